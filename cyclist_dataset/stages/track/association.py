"""MATCHBOXES (Schoustra 2020, Algorithm 1) for one frame: which open track takes which box.

IOU gating against each track's last box, naive matching for tracks with <= 2 boxes, and the
Kalman IOU for longer tracks. Unlike the thesis (greedy per pair) each frame's boxes are assigned
globally (Hungarian, maximising the summed similarity), so two cyclists never claim the same box.

Stationary semantics: a box with IOU > iou_max against the track's last box REPLACES that last
row (the thesis' "update the stationary box's values"), so a subject standing still yields one
crop, not many near-duplicates. The Kalman filter is still predicted to the new timestamp and
updated with the box, so the filter's time and state always correspond to the track's last box.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.core.geometry import iou, iou_matrix
from cyclist_dataset.stages.track.kalman import Box, BoxKalmanFilter, predicted_boxes

EPS = 1e-9  # float slack when comparing timestamp differences with thresholds
_FORBIDDEN = 1e6  # assignment cost of invalid pairs; such pairs are dropped afterwards
SMALL_FRAME = (
    16  # up to this many (track, box) pairs a frame is matched pair by pair (measured faster)
)


class OpenTrack:
    """A track still taking boxes: its rows (ids of the boxes it holds) and its Kalman filter."""

    __slots__ = (
        "track_id",
        "rows",
        "matched",
        "kf_boxes",
        "replaced",
        "first_time",
        "last_time",
        "last_box",
        "kf",
    )

    def __init__(self, track_id: int, row: int, t: float, box: Sequence[float]) -> None:
        self.track_id = track_id
        self.rows, self.matched, self.replaced = [row], [row], [False]
        self.kf_boxes: list[Box] = [(box[0], box[1], box[2], box[3])]
        self.first_time = self.last_time = t
        self.last_box = box
        self.kf = BoxKalmanFilter(box, t)

    def add(self, row: int, t: float, box: Sequence[float], stationary: bool) -> None:
        """Predict the filter to t, update it with box, and append (or, stationary, replace) the
        row."""
        kf_box = self.kf.update(box, t)
        self.matched.append(row)
        if stationary:
            self.rows[-1], self.kf_boxes[-1], self.replaced[-1] = row, kf_box, True
        else:
            self.rows.append(row)
            self.kf_boxes.append(kf_box)
            self.replaced.append(False)
        self.last_time, self.last_box = t, box

    def joined_with(self, later: OpenTrack) -> OpenTrack:
        """A new track holding this track's rows, then ``later``'s (offline stitching); the
        filter is ``later``'s."""
        joined = OpenTrack(self.track_id, self.rows[0], self.first_time, self.last_box)
        joined.rows, joined.matched = self.rows + later.rows, self.matched + later.matched
        joined.kf_boxes, joined.replaced = (
            self.kf_boxes + later.kf_boxes,
            self.replaced + later.replaced,
        )
        joined.last_time, joined.last_box, joined.kf = later.last_time, later.last_box, later.kf
        return joined


def match(
    tr: OpenTrack, box: Sequence[float], t: float, p: TrackConfig
) -> tuple[float, bool] | None:
    """MATCHBOXES for one pair: (similarity, stationary) if the pair may match, else None.

    Stationary when the IOU with the track's last box exceeds iou_max. Otherwise the pair must
    pass iou_min, on the last box or (``gate_on_prediction``, tracks with a velocity, i.e. >= 2
    boxes) on the Kalman prediction; then young tracks (<= 2 rows) match naively within
    naive_max_gap_s, older ones need the Kalman IOU >= iou_kalman. Similarity (maximised by the
    assignment): the Kalman IOU for a moving match of an older track, the gate IOU otherwise.
    """
    last = iou(tr.last_box, box)
    k_iou = iou(tr.kf.predict(t), box) if len(tr.matched) >= 2 else None
    gate = max(last, k_iou) if p.gate_on_prediction and k_iou is not None else last
    if last > p.iou_max:
        return gate, True
    if gate < p.iou_min:
        return None
    if len(tr.rows) <= 2:
        return (gate, False) if t - tr.last_time <= p.naive_max_gap_s + EPS else None
    assert k_iou is not None  # tracks with > 2 rows have matched >= 2 boxes
    return (k_iou, False) if k_iou >= p.iou_kalman else None


def candidates_vectorized(
    tracks: list[OpenTrack], boxes: np.ndarray, t: float, p: TrackConfig
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``match`` for every pair of a crowded frame at once: (valid, similarity, stationary)
    matrices."""
    last_iou = iou_matrix(np.array([tr.last_box for tr in tracks]), boxes)
    stationary = last_iou > p.iou_max
    gate = last_iou
    with_velocity = np.flatnonzero([len(tr.matched) >= 2 for tr in tracks])
    k_iou = np.zeros((0, len(boxes)))
    if with_velocity.size:
        k_iou = iou_matrix(
            predicted_boxes(np.array([tracks[i].kf.state() for i in with_velocity]), t), boxes
        )
        if p.gate_on_prediction:
            gate = last_iou.copy()
            gate[with_velocity] = np.maximum(last_iou[with_velocity], k_iou)
    moving = (gate >= p.iou_min) & ~stationary
    young = np.array([len(tr.rows) <= 2 for tr in tracks])
    moving[young & (t - np.array([tr.last_time for tr in tracks]) > p.naive_max_gap_s + EPS)] = (
        False
    )
    sim = gate
    old = ~young[with_velocity]  # older tracks have >= 3 rows, hence a velocity
    if old.any():
        rows, k_old = with_velocity[old], k_iou[old]
        sim = gate.copy()
        sim[rows] = np.where(moving[rows], k_old, gate[rows])
        moving[rows] &= k_old >= p.iou_kalman
    return stationary | moving, sim, stationary


def associate(
    tracks: list[OpenTrack],
    rows: list[int],
    boxes: np.ndarray,
    box_l: list[list[float]],
    t: float,
    p: TrackConfig,
) -> list[tuple[int, int, bool]]:
    """One global assignment of the frame's boxes ``rows`` to ``tracks``: (track, index in rows,
    stationary).

    Candidates come from ``match`` pair by pair in small frames (cheaper than numpy's per-call
    cost), from the equivalent ``candidates_vectorized`` in crowded ones.
    """
    if len(tracks) * len(rows) <= SMALL_FRAME:
        candidates = [
            (i, j, *m)
            for i, tr in enumerate(tracks)
            for j, row in enumerate(rows)
            if (m := match(tr, box_l[row], t, p)) is not None
        ]
    else:
        valid, sim, stationary = candidates_vectorized(tracks, boxes[rows], t, p)
        ii, jj = np.nonzero(valid)
        candidates = list(
            zip(
                ii.tolist(),
                jj.tolist(),
                sim[ii, jj].tolist(),
                stationary[ii, jj].tolist(),
                strict=True,
            )
        )
    if len({c[0] for c in candidates}) == len({c[1] for c in candidates}) == len(candidates):
        return [(i, j, stat) for i, j, _, stat in candidates]  # no two candidates compete
    cost = np.full((len(tracks), len(rows)), _FORBIDDEN)
    stationary_of = {}
    for i, j, similarity, stat in candidates:
        cost[i, j] = -similarity
        stationary_of[i, j] = stat
    picked = linear_sum_assignment(cost)
    # Pairs the solver had to use although forbidden are dropped.
    return [
        (i, j, stationary_of[i, j])
        for i, j in zip(*(a.tolist() for a in picked), strict=True)
        if (i, j) in stationary_of
    ]


def assign(
    tracks: list[OpenTrack],
    rows: list[int],
    boxes: np.ndarray,
    box_l: list[list[float]],
    t: float,
    p: TrackConfig,
    offset: int = 0,
) -> list[int]:
    """Extend ``tracks`` with their assigned boxes among ``rows`` (indices into ``boxes``, the
    frame's boxes; a track stores ``offset + row``); returns the rows left over."""
    if not (tracks and rows):
        return rows
    taken = set()
    for i, j, stationary in associate(tracks, rows, boxes, box_l, t, p):
        tracks[i].add(offset + rows[j], t, box_l[rows[j]], stationary)
        taken.add(j)
    return [row for j, row in enumerate(rows) if j not in taken]
