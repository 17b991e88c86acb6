"""Track stage: one video's per-frame person boxes -> tracklets.

Follows Schoustra (2020), Algorithm 1 (MATCHBOXES): IOU gating against each track's
last box, naive matching for tracks with <= 2 boxes, and a SORT-style constant-velocity
Kalman filter for longer tracks. Unlike the thesis (greedy per pair) we do one global
assignment per frame, so two cyclists never claim the same box. All time logic is in
seconds of frame timestamps, never frame counts, so it works at any (sampled) fps.

Stationary semantics: a box with IOU > iou_max against the track's last box REPLACES
that last row (the thesis' "update the stationary box's values"), so a subject standing
still yields one crop, not many near-duplicates. The Kalman filter is still predicted to
the new timestamp and updated with the box, so the filter's time and state always
correspond to the track's last box (and its velocity decays towards zero).
A track's duration for min_pickup_s is its lifetime (last match time - time it was
started), including replaced rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from filterpy.kalman import KalmanFilter
from scipy.optimize import linear_sum_assignment

import pyarrow as pa

from cyclist_dataset import schemas
from cyclist_dataset.config import TrackConfig

_EPS = 1e-9  # float slack when comparing timestamp differences with thresholds
_FORBIDDEN = 1e6  # assignment cost of invalid pairs; such pairs are dropped afterwards

# Kalman noise in pixel/second units (SORT's constants are per frame, which breaks at other fps).
# Measurement: detector jitter of a few px on the centre; area and aspect are noisier and area
# scales with the box, so it is relative to the track's first box area s0.
_POS_STD = 4.0  # px
_AREA_STD_REL = 0.1  # * s0
_ASPECT_STD = 0.05  # w/h
# Initial velocity uncertainty: large (a cyclist crosses the view in a few seconds), so that
# two measurements pin the velocity down, as SORT's P[4:,4:] *= 1000 does.
_VEL_STD = 500.0  # px/s
_AREA_RATE_STD_REL = 1.0  # * s0 per s
# Process noise: white-noise acceleration (continuous, scaled by dt). Cyclists ride at nearly
# constant speed; perspective makes the apparent speed and size drift slowly.
_ACC_STD = 150.0  # px/s^2
_AREA_ACC_STD_REL = 0.5  # * s0 per s^2
_ASPECT_WALK_STD = 0.1  # per sqrt(s)


@dataclass(frozen=True)
class Tracklet:
    number: int  # 1-based, ordered by timestamp of rows[0] (ties: by rows[0])
    rows: np.ndarray  # int64 indices into the input arrays, in time order


def _to_z(box: np.ndarray) -> np.ndarray:
    """xyxy -> [cx, cy, area, aspect w/h]."""
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] + w / 2, box[1] + h / 2, w * h, w / h])


def _to_box(x: np.ndarray) -> np.ndarray:
    """[cx, cy, area, aspect, ...] -> xyxy (area/aspect clipped positive)."""
    s, r = max(x[2], 1e-6), max(x[3], 1e-6)
    w = np.sqrt(s * r)
    h = s / w
    return np.array([x[0] - w / 2, x[1] - h / 2, x[0] + w / 2, x[1] + h / 2])


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union)


def _transition(dt: float) -> np.ndarray:
    F = np.eye(7)
    F[0, 4] = F[1, 5] = F[2, 6] = dt
    return F


class _Track:
    """Open track: its rows plus a Kalman filter whose time is always last_time."""

    def __init__(self, row: int, t: float, box: np.ndarray) -> None:
        z = _to_z(box)
        self.s0 = z[2]
        self.rows = [row]
        self.first_time = self.last_time = t
        self.last_box = box
        kf = KalmanFilter(dim_x=7, dim_z=4)
        kf.H = np.eye(4, 7)
        meas_var = [_POS_STD**2, _POS_STD**2, (_AREA_STD_REL * self.s0) ** 2, _ASPECT_STD**2]
        kf.R = np.diag(meas_var)
        kf.P = np.diag(meas_var + [_VEL_STD**2, _VEL_STD**2, (_AREA_RATE_STD_REL * self.s0) ** 2])
        kf.x[:4, 0] = z
        self.kf = kf

    def _guarded_x(self, dt: float) -> np.ndarray:
        # Like SORT: if the area would shrink below zero, drop the area velocity.
        x = self.kf.x[:, 0].copy()
        if x[2] + x[6] * dt <= 0:
            x[6] = 0.0
        return x

    def predict_box(self, t: float) -> np.ndarray:
        """Predicted box at time t, without touching the filter (a rejected match must not move it)."""
        dt = t - self.last_time
        return _to_box(_transition(dt) @ self._guarded_x(dt))

    def add(self, row: int, t: float, box: np.ndarray, stationary: bool) -> None:
        dt = t - self.last_time
        q = [_ACC_STD**2, _ACC_STD**2, (_AREA_ACC_STD_REL * self.s0) ** 2]
        Q = np.zeros((7, 7))
        for i, qi in enumerate(q):  # position i, velocity i + 4
            Q[i, i] = qi * dt**3 / 3
            Q[i, i + 4] = Q[i + 4, i] = qi * dt**2 / 2
            Q[i + 4, i + 4] = qi * dt
        Q[3, 3] = _ASPECT_WALK_STD**2 * dt
        self.kf.x[:, 0] = self._guarded_x(dt)
        self.kf.predict(F=_transition(dt), Q=Q)
        self.kf.update(_to_z(box))
        if stationary:
            self.rows[-1] = row
        else:
            self.rows.append(row)
        self.last_time, self.last_box = t, box


def _match(tr: _Track, box: np.ndarray, t: float, p: TrackConfig) -> tuple[float, bool] | None:
    """MATCHBOXES: (similarity, stationary) if the pair may match, else None."""
    iou = _iou(tr.last_box, box)
    if iou < p.iou_min:
        return None
    if iou > p.iou_max:
        return iou, True
    if len(tr.rows) <= 2:  # too short for the Kalman filter: naive IOU match
        return (iou, False) if t - tr.last_time <= p.naive_max_gap_s + _EPS else None
    k_iou = _iou(tr.predict_box(t), box)
    return (k_iou, False) if k_iou >= p.iou_kalman else None


def _check_inputs(ts: np.ndarray, boxes: np.ndarray, frame_index: np.ndarray | None) -> None:
    n = ts.shape[0]
    if ts.ndim != 1 or boxes.shape != (n, 4):
        raise ValueError(f"expected timestamp (N,) and xyxy (N, 4), got {ts.shape} and {boxes.shape}")
    if not (np.isfinite(ts).all() and np.isfinite(boxes).all()):
        raise ValueError("timestamps and boxes must be finite")
    if ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
        raise ValueError("boxes must have positive width and height")
    if frame_index is not None:
        fi = np.asarray(frame_index)
        if fi.shape != (n,):
            raise ValueError(f"frame_index must have shape ({n},), got {fi.shape}")
        # Only used as a sanity check: frames are grouped by timestamp, one timestamp per frame.
        pairs = np.unique(np.column_stack([ts, fi.astype(float)]), axis=0)
        if not len(pairs) == len(np.unique(ts)) == len(np.unique(fi)):
            raise ValueError("timestamp and frame_index disagree on how rows group into frames")


def track(
    timestamp: np.ndarray,
    xyxy: np.ndarray,
    params: TrackConfig = TrackConfig(),
    frame_index: np.ndarray | None = None,
) -> list[Tracklet]:
    """Group one video's boxes into tracklets; rows with equal timestamps form one frame."""
    ts = np.asarray(timestamp, dtype=float)
    boxes = np.asarray(xyxy, dtype=float)
    _check_inputs(ts, boxes, frame_index)
    if ts.size == 0:
        return []

    order = np.argsort(ts, kind="stable")
    cuts = np.flatnonzero(np.diff(ts[order]) != 0) + 1
    open_tracks: list[_Track] = []
    closed: list[_Track] = []
    for frame_rows in np.split(order, cuts):
        t = float(ts[frame_rows[0]])
        # Close expired tracks before matching.
        alive = [t - tr.last_time <= params.expiration_s + _EPS for tr in open_tracks]
        closed += [tr for tr, ok in zip(open_tracks, alive) if not ok]
        open_tracks = [tr for tr, ok in zip(open_tracks, alive) if ok]

        # Candidate matrix, then one global assignment maximising the similarity.
        cost = np.full((len(open_tracks), len(frame_rows)), _FORBIDDEN)
        stationary = np.zeros(cost.shape, dtype=bool)
        for i, tr in enumerate(open_tracks):
            for j, row in enumerate(frame_rows):
                m = _match(tr, boxes[row], t, params)
                if m is not None:
                    cost[i, j], stationary[i, j] = -m[0], m[1]
        matched: set[int] = set()
        for i, j in zip(*linear_sum_assignment(cost)):
            if cost[i, j] < _FORBIDDEN:  # drop forbidden pairs the solver had to use
                open_tracks[i].add(int(frame_rows[j]), t, boxes[frame_rows[j]], bool(stationary[i, j]))
                matched.add(j)
        open_tracks += [_Track(int(row), t, boxes[row]) for j, row in enumerate(frame_rows) if j not in matched]
    closed += open_tracks

    kept = [tr for tr in closed if tr.last_time - tr.first_time >= params.min_pickup_s - _EPS]
    kept.sort(key=lambda tr: (ts[tr.rows[0]], tr.rows[0]))
    return [Tracklet(number=k + 1, rows=np.asarray(tr.rows, dtype=np.int64)) for k, tr in enumerate(kept)]


def tracklet_id(video_id: str, number: int) -> str:
    return f"{video_id}_t{number:04d}"


def track_video(detections: pa.Table, config: TrackConfig, location: str, camera: str) -> tuple[pa.Table, dict]:
    """The track stage: the kept boxes of one video (filter output) -> one row per box of a cyclist tracklet.

    A tracklet is a cyclist when its rider is paired with a bicycle in at least
    ``min_bicycle_share`` of its boxes (with ``require_bicycle``). Returns the table and counts.
    """
    kept = detections.filter(detections.column("kept"))
    xyxy = np.stack([kept.column(c).to_numpy() for c in ("x1", "y1", "x2", "y2")], axis=1).reshape(-1, 4)
    tracklets = track(kept.column("timestamp_s").to_numpy(), xyxy, config, kept.column("frame_index").to_numpy())
    paired = kept.column("bicycle_detection_id").is_valid().to_numpy(zero_copy_only=False)
    cyclists = [t for t in tracklets
                if not config.require_bicycle or paired[t.rows].mean() >= config.min_bicycle_share]
    rows = np.concatenate([t.rows for t in cyclists]) if cyclists else np.zeros(0, np.int64)
    picked = kept.take(pa.array(rows, pa.int64()))
    video_id = picked.column("video_id").to_pylist()
    numbers = [number for number, t in enumerate(cyclists, start=1) for _ in t.rows]
    table = schemas.table(schemas.TRACKLETS, {
        "tracklet_id": [tracklet_id(v, n) for v, n in zip(video_id, numbers)],
        "location": [location] * len(rows), "camera": [camera] * len(rows),
        **{name: picked.column(name) for name in schemas.TRACKLETS.names if name in picked.column_names},
    })
    return table, {"tracklets": len(cyclists), "dropped_not_cyclist": len(tracklets) - len(cyclists)}
