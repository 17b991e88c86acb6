"""A plain greedy implementation of the thesis's Algorithm 1, the baseline for
benchmarks/tracking.py.

Schoustra (2020), Appendix, Algorithm 1: for every frame, for every tracked object, for every box:
IOU with the object's last box, then MATCHBOXES (IOU < MIN_IOU: no match; IOU > MAX_IOU:
"Stationary", the box replaces the object's last box; an object of <= 2 boxes: "Tracked" when the
box is at most 1 s after its last box; otherwise "Tracked" when the IOU with the Kalman filter's
prediction is >= MIN_IOU_Kalman). Written as the thesis describes it, with only the fixes needed
for it to be a tracker at all:

- greedy first match in loop order: objects in the order they were created, boxes in detector
  order; an object takes the first box that matches and is not taken yet, at most one per frame
  (read literally, one object would append every matching box and one box could join many objects);
- boxes no object took start new objects (read literally, line 16 starts one per failed pair);
- Table II's expiration time (an object unseen for 0.5 s is closed) and min pickup time (shorter
  objects are dropped), all in seconds of frame timestamps.

The Kalman filter is filterpy's, with the same constant-velocity model and noise as
cyclist_dataset.stages.track (so comparisons measure the association, not the filter), predicted per
(object, box) pair on a copy, as a direct reading of line 29 does.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
from filterpy.kalman import KalmanFilter

from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.core.geometry import iou
from cyclist_dataset.stages.track.kalman import (
    ACC_STD,
    AREA_ACC_STD_REL,
    AREA_RATE_STD_REL,
    AREA_STD_REL,
    ASPECT_STD,
    ASPECT_WALK_STD,
    POS_STD,
    VEL_STD,
)

EPS = 1e-9


@dataclass(frozen=True)
class GreedyTracklet:
    number: int
    rows: np.ndarray  # rows of the dataset (stationary boxes replaced)
    matched: np.ndarray  # every row the object matched


def to_z(box: np.ndarray) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] + w / 2, box[1] + h / 2, w * h, w / h])


def to_box(x: np.ndarray) -> np.ndarray:
    s, r = max(x[2], 1e-6), max(x[3], 1e-6)
    w = np.sqrt(s * r)
    h = s / w
    return np.array([x[0] - w / 2, x[1] - h / 2, x[0] + w / 2, x[1] + h / 2])


class TrackedObject:
    def __init__(self, row: int, t: float, box: np.ndarray) -> None:
        z = to_z(box)
        self.s0 = z[2]
        self.rows, self.matched = [row], [row]
        self.first_time = self.last_time = t
        self.last_box = box
        self.kf = KalmanFilter(dim_x=7, dim_z=4)
        self.kf.H = np.eye(4, 7)
        meas = [POS_STD**2, POS_STD**2, (AREA_STD_REL * self.s0) ** 2, ASPECT_STD**2]
        self.kf.R = np.diag(meas)
        self.kf.P = np.diag(meas + [VEL_STD**2, VEL_STD**2, (AREA_RATE_STD_REL * self.s0) ** 2])
        self.kf.x[:4, 0] = z

    def _fq(self, dt: float) -> tuple[np.ndarray, np.ndarray]:
        F = np.eye(7)
        F[0, 4] = F[1, 5] = F[2, 6] = dt
        Q = np.zeros((7, 7))
        for i, q in enumerate([ACC_STD**2, ACC_STD**2, (AREA_ACC_STD_REL * self.s0) ** 2]):
            Q[i, i] = q * dt**3 / 3
            Q[i, i + 4] = Q[i + 4, i] = q * dt**2 / 2
            Q[i + 4, i + 4] = q * dt
        Q[3, 3] = ASPECT_WALK_STD**2 * dt
        return F, Q

    def _predict(self, kf: KalmanFilter, dt: float) -> None:
        if kf.x[2, 0] + kf.x[6, 0] * dt <= 0:
            kf.x[6, 0] = 0.0
        F, Q = self._fq(dt)
        kf.predict(F=F, Q=Q)

    def predicted_box(self, t: float) -> np.ndarray:
        kf = copy.deepcopy(self.kf)  # a rejected candidate must not move the filter
        self._predict(kf, t - self.last_time)
        return to_box(kf.x[:, 0])

    def add(self, row: int, t: float, box: np.ndarray, stationary: bool) -> None:
        self._predict(self.kf, t - self.last_time)
        self.kf.update(to_z(box))
        self.matched.append(row)
        if stationary:
            self.rows[-1] = row
        else:
            self.rows.append(row)
        self.last_time, self.last_box = t, box


def match_boxes(obj: TrackedObject, box: np.ndarray, t: float, p: TrackConfig) -> str | None:
    """MATCHBOXES: "Tracked", "Stationary" or None."""
    overlap = iou(obj.last_box, box)
    if overlap < p.iou_min:
        return None
    if overlap > p.iou_max:
        return "Stationary"
    if len(obj.rows) <= 2:
        return "Tracked" if t - obj.last_time <= p.naive_max_gap_s + EPS else None
    return "Tracked" if iou(obj.predicted_box(t), box) >= p.iou_kalman else None


def track_greedy(
    timestamp: np.ndarray, xyxy: np.ndarray, params: TrackConfig = TrackConfig()
) -> list[GreedyTracklet]:
    ts = np.asarray(timestamp, dtype=float)
    boxes = np.asarray(xyxy, dtype=float)
    order = np.argsort(ts, kind="stable")
    frames = np.split(order, np.flatnonzero(np.diff(ts[order]) != 0) + 1) if ts.size else []
    objects: list[TrackedObject] = []
    closed: list[TrackedObject] = []
    for rows in frames:
        t = float(ts[rows[0]])
        closed += [o for o in objects if t - o.last_time > params.expiration_s + EPS]
        objects = [o for o in objects if t - o.last_time <= params.expiration_s + EPS]
        taken: set[int] = set()
        for obj in list(objects):
            for row in rows:
                if row in taken:
                    continue
                kind = match_boxes(obj, boxes[row], t, params)
                if kind is not None:
                    obj.add(int(row), t, boxes[row], kind == "Stationary")
                    taken.add(row)
                    break
        objects += [TrackedObject(int(row), t, boxes[row]) for row in rows if row not in taken]
    closed += objects
    kept = [o for o in closed if o.last_time - o.first_time >= params.min_pickup_s - EPS]
    kept.sort(key=lambda o: (ts[o.rows[0]], o.rows[0]))
    return [
        GreedyTracklet(k + 1, np.asarray(o.rows, np.int64), np.asarray(o.matched, np.int64))
        for k, o in enumerate(kept)
    ]
