"""Track stage: one video's per-frame person boxes -> tracklets.

Follows Schoustra (2020), Algorithm 1 (MATCHBOXES): IOU gating against each track's
last box, naive matching for tracks with <= 2 boxes, and a SORT-style constant-velocity
Kalman filter for longer tracks. Unlike the thesis (greedy per pair) each frame's boxes are
assigned globally (Hungarian, maximising the summed IOU), so two cyclists never claim the same
box: first to established tracks (> 2 boxes matched), then the boxes left to young tracks (as
ByteTrack treats unconfirmed tracks). All time logic is in seconds of frame timestamps, never
frame counts, so it works at any (sampled) fps; for that, ``gate_on_prediction`` lets a box
pass iou_min on the Kalman prediction as well as on the last box (a fast rider sampled at
10 fps can overlap its last box by less than 0.3 while the prediction overlaps it by 0.8).

Stationary semantics: a box with IOU > iou_max against the track's last box REPLACES
that last row (the thesis' "update the stationary box's values"), so a subject standing
still yields one crop, not many near-duplicates. The Kalman filter is still predicted to
the new timestamp and updated with the box, so the filter's time and state always
correspond to the track's last box (and its velocity decays towards zero).
A track's duration for min_pickup_s is its lifetime (last match time - time it was
started), including replaced rows.

Options beyond the thesis (TrackConfig): a third pass with low-score boxes (ByteTrack's idea:
they extend tracks still unmatched in their frame, never start one), a minimum number of rows
per tracklet (min_boxes), and offline linear interpolation of short gaps (``interpolate_gaps``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.optimize import linear_sum_assignment

from cyclist_dataset import schemas
from cyclist_dataset.config import FilterConfig, TrackConfig
from cyclist_dataset.detections import Detections
from cyclist_dataset.filter import drop_reasons
from cyclist_dataset.roi import Roi
from cyclist_dataset.video import FrameSampler

_EPS = 1e-9  # float slack when comparing timestamp differences with thresholds
_FORBIDDEN = 1e6  # assignment cost of invalid pairs; such pairs are dropped afterwards
_SMALL_FRAME = 16  # up to this many (track, box) pairs a frame is matched pair by pair (measured faster)

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
    matched: np.ndarray  # every row the track matched, stationary rows it later replaced included
    kf_xyxy: np.ndarray  # (len(rows), 4) the Kalman filter's box right after each row's update
    replaced: np.ndarray  # (len(rows),) bool: the row replaced a stationary row (no gap before it)


@dataclass(frozen=True)
class TrackResult:
    tracklets: list[Tracklet]
    dropped_too_short: int  # tracks shorter than min_pickup_s or with fewer than min_boxes rows


def _to_z(box: list[float]) -> tuple[float, float, float, float]:
    """xyxy -> (cx, cy, area, aspect w/h)."""
    w, h = box[2] - box[0], box[3] - box[1]
    return box[0] + w / 2, box[1] + h / 2, w * h, w / h


def _to_box(cx: float, cy: float, s: float, r: float) -> tuple[float, float, float, float]:
    """(cx, cy, area, aspect) -> xyxy (area/aspect clipped positive)."""
    s, r = max(s, 1e-6), max(r, 1e-6)
    w = math.sqrt(s * r)
    h = s / w
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T, D) IOU of xyxy boxes a (T, 4) and b (D, 4)."""
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter)


class _Track:
    """Open track: its rows plus a Kalman filter whose time is always last_time.

    The filter is SORT's 7-state model [cx, cy, area, aspect, vcx, vcy, varea] with H = I(4, 7).
    Every matrix of that model (F, Q, R, the initial P) is block-diagonal in the blocks
    (cx, vcx), (cy, vcy), (area, varea) and (aspect), so the covariance stays block-diagonal
    and the filter is exactly three 2-state filters and one 1-state filter. Writing them out in
    scalars is ~20x faster than 7x7 matrix algebra (tests check it against filterpy).
    """

    __slots__ = ("rows", "matched", "kf_boxes", "replaced", "first_time", "last_time", "last_box", "x", "p",
                 "meas_var", "acc_var")

    def __init__(self, row: int, t: float, box: list[float]) -> None:
        z = _to_z(box)
        s0 = z[2]
        self.rows, self.matched, self.kf_boxes, self.replaced = [row], [row], [tuple(box)], [False]
        self.first_time = self.last_time = t
        self.last_box = box
        self.x = [*z, 0.0, 0.0, 0.0]  # cx, cy, area, aspect, vcx, vcy, varea
        self.meas_var = (_POS_STD**2, _POS_STD**2, (_AREA_STD_REL * s0) ** 2, _ASPECT_STD**2)
        self.acc_var = (_ACC_STD**2, _ACC_STD**2, (_AREA_ACC_STD_REL * s0) ** 2)
        vel_var = (_VEL_STD**2, _VEL_STD**2, (_AREA_RATE_STD_REL * s0) ** 2)
        # Covariance per block: (P_pos, P_pos_vel, P_vel) for the three 2-state blocks, then P_aspect.
        self.p = [[self.meas_var[i], 0.0, vel_var[i]] for i in range(3)] + [self.meas_var[3]]

    def add(self, row: int, t: float, box: list[float], stationary: bool) -> None:
        """Predict the filter to t, update it with box, and append (or, stationary, replace) the row."""
        dt = t - self.last_time
        x, z = self.x, _to_z(box)
        if x[2] + x[6] * dt <= 0:  # like SORT: an area that would shrink below zero stops shrinking
            x[6] = 0.0
        for i in range(3):
            a, b, c = self.p[i]
            q, r = self.acc_var[i], self.meas_var[i]
            # Predict: P <- F P F' + Q (white-noise acceleration).
            a += dt * (2 * b + dt * c) + q * dt**3 / 3
            b += dt * c + q * dt**2 / 2
            c += q * dt
            pos = x[i] + x[i + 4] * dt
            # Update with the measured position.
            s = a + r
            k0, k1 = a / s, b / s
            innovation = z[i] - pos
            x[i], x[i + 4] = pos + k0 * innovation, x[i + 4] + k1 * innovation
            self.p[i] = [a * r / s, b * r / s, c - k1 * b]
        a, r = self.p[3] + _ASPECT_WALK_STD**2 * dt, self.meas_var[3]
        x[3] += a / (a + r) * (z[3] - x[3])
        self.p[3] = a * r / (a + r)

        kf_box = _to_box(x[0], x[1], x[2], x[3])
        self.matched.append(row)
        if stationary:
            self.rows[-1], self.kf_boxes[-1], self.replaced[-1] = row, kf_box, True
        else:
            self.rows.append(row)
            self.kf_boxes.append(kf_box)
            self.replaced.append(False)
        self.last_time, self.last_box = t, box

    def predict(self, t: float) -> tuple[float, float, float, float]:
        """The Kalman-predicted box at time t (scalar ``predicted_boxes``; the filter is not moved)."""
        x, dt = self.x, t - self.last_time
        varea = 0.0 if x[2] + x[6] * dt <= 0 else x[6]
        return _to_box(x[0] + x[4] * dt, x[1] + x[5] * dt, x[2] + varea * dt, x[3])

    def state(self) -> tuple[float, ...]:
        """(cx, cy, area, aspect, vcx, vcy, varea, last_time) for vectorized prediction."""
        return (*self.x, self.last_time)


def predicted_boxes(states: np.ndarray, t: float) -> np.ndarray:
    """(K, 4) Kalman-predicted xyxy at time t of tracks given as (K, 8) ``_Track.state()`` rows.

    Pure: evaluating a candidate never moves a filter (a rejected match must leave it untouched).
    """
    dt = t - states[:, 7]
    varea = np.where(states[:, 2] + states[:, 6] * dt <= 0, 0.0, states[:, 6])
    cx = states[:, 0] + states[:, 4] * dt
    cy = states[:, 1] + states[:, 5] * dt
    s = np.maximum(states[:, 2] + varea * dt, 1e-6)
    r = np.maximum(states[:, 3], 1e-6)
    w = np.sqrt(s * r)
    h = s / w
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)


def _iou(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _match(tr: _Track, box: list[float], t: float, p: TrackConfig) -> tuple[float, bool] | None:
    """MATCHBOXES for one pair: (similarity, stationary) if the pair may match, else None.

    Stationary when the IOU with the track's last box exceeds iou_max. Otherwise the pair must
    pass iou_min, on the last box or (``gate_on_prediction``, tracks with a velocity, i.e. >= 2
    boxes) on the Kalman prediction; then young tracks (<= 2 rows) match naively within
    naive_max_gap_s, older ones need the Kalman IOU >= iou_kalman. Similarity (maximised by the
    assignment): the Kalman IOU for a moving match of an older track, the gate IOU otherwise.
    """
    last = _iou(tr.last_box, box)
    k_iou = _iou(tr.predict(t), box) if len(tr.matched) >= 2 else None
    gate = max(last, k_iou) if p.gate_on_prediction and k_iou is not None else last
    if last > p.iou_max:
        return gate, True
    if gate < p.iou_min:
        return None
    if len(tr.rows) <= 2:
        return (gate, False) if t - tr.last_time <= p.naive_max_gap_s + _EPS else None
    return (k_iou, False) if k_iou >= p.iou_kalman else None


def _candidates_vectorized(tracks: list[_Track], boxes: np.ndarray, t: float,
                           p: TrackConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``_match`` for every pair of a crowded frame at once: (valid, similarity, stationary) matrices."""
    last_iou = iou_matrix(np.array([tr.last_box for tr in tracks]), boxes)
    stationary = last_iou > p.iou_max
    gate = last_iou
    with_velocity = np.flatnonzero([len(tr.matched) >= 2 for tr in tracks])
    k_iou = np.zeros((0, len(boxes)))
    if with_velocity.size:
        k_iou = iou_matrix(predicted_boxes(np.array([tracks[i].state() for i in with_velocity]), t), boxes)
        if p.gate_on_prediction:
            gate = last_iou.copy()
            gate[with_velocity] = np.maximum(last_iou[with_velocity], k_iou)
    moving = (gate >= p.iou_min) & ~stationary
    young = np.array([len(tr.rows) <= 2 for tr in tracks])
    moving[young & (t - np.array([tr.last_time for tr in tracks]) > p.naive_max_gap_s + _EPS)] = False
    sim = gate
    old = ~young[with_velocity]  # older tracks have >= 3 rows, hence a velocity
    if old.any():
        rows, k_old = with_velocity[old], k_iou[old]
        sim = gate.copy()
        sim[rows] = np.where(moving[rows], k_old, gate[rows])
        moving[rows] &= k_old >= p.iou_kalman
    return stationary | moving, sim, stationary


def _associate(tracks: list[_Track], rows: list[int], boxes: np.ndarray, box_l: list[list[float]], t: float,
               p: TrackConfig) -> list[tuple[int, int, bool]]:
    """One global assignment of the frame's boxes ``rows`` to ``tracks``: (track, index in rows, stationary).

    Candidates come from ``_match`` pair by pair in small frames (cheaper than numpy's per-call
    cost), from the equivalent ``_candidates_vectorized`` in crowded ones.
    """
    if len(tracks) * len(rows) <= _SMALL_FRAME:
        candidates = [(i, j, *m) for i, tr in enumerate(tracks) for j, row in enumerate(rows)
                      if (m := _match(tr, box_l[row], t, p)) is not None]
    else:
        valid, sim, stationary = _candidates_vectorized(tracks, boxes[rows], t, p)
        ii, jj = np.nonzero(valid)
        candidates = list(zip(ii.tolist(), jj.tolist(), sim[ii, jj].tolist(), stationary[ii, jj].tolist()))
    if len({c[0] for c in candidates}) == len({c[1] for c in candidates}) == len(candidates):
        return [(i, j, stat) for i, j, _, stat in candidates]  # no two candidates compete
    cost = np.full((len(tracks), len(rows)), _FORBIDDEN)
    stationary_of = {}
    for i, j, similarity, stat in candidates:
        cost[i, j] = -similarity
        stationary_of[i, j] = stat
    picked = linear_sum_assignment(cost)
    # Pairs the solver had to use although forbidden are dropped.
    return [(i, j, stationary_of[i, j]) for i, j in zip(*(a.tolist() for a in picked)) if (i, j) in stationary_of]


def _assign(tracks: list[_Track], rows: list[int], boxes: np.ndarray, box_l: list[list[float]], t: float,
            p: TrackConfig) -> list[int]:
    """Extend ``tracks`` with their assigned boxes among ``rows``; returns the rows left over."""
    if not (tracks and rows):
        return rows
    taken = set()
    for i, j, stationary in _associate(tracks, rows, boxes, box_l, t, p):
        tracks[i].add(rows[j], t, box_l[rows[j]], stationary)
        taken.add(j)
    return [row for j, row in enumerate(rows) if j not in taken]


def _check_inputs(ts: np.ndarray, boxes: np.ndarray, frame_index: np.ndarray | None,
                  low_score: np.ndarray | None) -> None:
    n = ts.shape[0]
    if ts.ndim != 1 or boxes.shape != (n, 4):
        raise ValueError(f"expected timestamp (N,) and xyxy (N, 4), got {ts.shape} and {boxes.shape}")
    if not (np.isfinite(ts).all() and np.isfinite(boxes).all()):
        raise ValueError("timestamps and boxes must be finite")
    if ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
        raise ValueError("boxes must have positive width and height")
    if low_score is not None and np.shape(low_score) != (n,):
        raise ValueError(f"low_score must have shape ({n},), got {np.shape(low_score)}")
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
    low_score: np.ndarray | None = None,
) -> TrackResult:
    """Group one video's boxes into tracklets; rows with equal timestamps form one frame.

    ``low_score`` (bool per row) marks boxes for the low-score pass only: after the other boxes
    of a frame are assigned, they may extend tracks still unmatched in that frame, never start
    one. Tracks shorter than ``min_pickup_s`` or with fewer than ``min_boxes`` rows are dropped
    (and counted in ``TrackResult.dropped_too_short``).
    """
    ts = np.asarray(timestamp, dtype=float)
    boxes = np.asarray(xyxy, dtype=float)
    _check_inputs(ts, boxes, frame_index, low_score)
    if ts.size == 0:
        return TrackResult([], 0)
    low = np.zeros(ts.size, bool) if low_score is None else np.asarray(low_score, bool)

    # Frames in time order; within a frame the high-score rows first (stable: input order).
    order = np.lexsort((low, ts))
    cuts = (np.flatnonzero(np.diff(ts[order]) != 0) + 1).tolist()
    starts, ends = [0, *cuts], [*cuts, ts.size]
    n_high = np.add.reduceat(~low[order], starts).tolist()
    order_l, ts_l, box_l = order.tolist(), ts.tolist(), boxes.tolist()
    expiration = params.expiration_s + _EPS

    open_tracks: list[_Track] = []
    closed: list[_Track] = []
    for start, end, nh in zip(starts, ends, n_high):
        t = ts_l[order_l[start]]
        if open_tracks:  # close expired tracks before matching
            alive = [tr for tr in open_tracks if t - tr.last_time <= expiration]
            if len(alive) < len(open_tracks):
                closed += [tr for tr in open_tracks if t - tr.last_time > expiration]
                open_tracks = alive
        high, low_rows = order_l[start:start + nh], order_l[start + nh:end]

        # Three passes, each one global assignment: established tracks (> 2 boxes matched) get the
        # high-score boxes first, then young tracks the boxes left (as ByteTrack treats unconfirmed
        # tracks: a one-box track must not win a box from an established one), then the tracks
        # still unmatched get the low-score boxes.
        high = _assign([tr for tr in open_tracks if len(tr.matched) > 2], high, boxes, box_l, t, params)
        high = _assign([tr for tr in open_tracks if len(tr.matched) <= 2], high, boxes, box_l, t, params)
        _assign([tr for tr in open_tracks if tr.last_time < t], low_rows, boxes, box_l, t, params)
        open_tracks += [_Track(row, t, box_l[row]) for row in high]
    closed += open_tracks

    kept = [tr for tr in closed
            if tr.last_time - tr.first_time >= params.min_pickup_s - _EPS and len(tr.rows) >= params.min_boxes]
    kept.sort(key=lambda tr: (ts_l[tr.rows[0]], tr.rows[0]))
    tracklets = [Tracklet(number=k + 1, rows=np.asarray(tr.rows, dtype=np.int64),
                          matched=np.asarray(tr.matched, dtype=np.int64),
                          kf_xyxy=np.asarray(tr.kf_boxes, dtype=float).reshape(-1, 4),
                          replaced=np.asarray(tr.replaced, dtype=bool))
                 for k, tr in enumerate(kept)]
    return TrackResult(tracklets, dropped_too_short=len(closed) - len(kept))


def interpolate_gaps(times: np.ndarray, xyxy: np.ndarray, replaced: np.ndarray, frame_times: np.ndarray,
                     max_gap_s: float) -> tuple[np.ndarray, np.ndarray]:
    """Boxes for the frames a tracklet missed: linear between its rows around each gap.

    ``times``/``xyxy``/``replaced``: one tracklet's rows in time order (``Tracklet.replaced``).
    ``frame_times``: sorted timestamps of the frames the detector ran on. A gap is filled when
    its two rows are at most ``max_gap_s`` apart and no stationary row was replaced between them
    (those frames were seen; filling them would re-create the near-duplicates replacement removes).
    Returns (indices into ``frame_times``, (K, 4) boxes).
    """
    picked: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    if max_gap_s <= 0:
        return np.zeros(0, np.int64), np.zeros((0, 4))
    for k in range(len(times) - 1):
        t0, t1 = times[k], times[k + 1]
        if replaced[k + 1] or t1 - t0 > max_gap_s + _EPS:
            continue
        inside = np.arange(np.searchsorted(frame_times, t0 + _EPS), np.searchsorted(frame_times, t1 - _EPS))
        if inside.size:
            w = ((frame_times[inside] - t0) / (t1 - t0))[:, None]
            picked.append(inside)
            boxes.append((1 - w) * xyxy[k] + w * xyxy[k + 1])
    if not picked:
        return np.zeros(0, np.int64), np.zeros((0, 4))
    return np.concatenate(picked), np.concatenate(boxes)


def tracklet_id(video_id: str, number: int) -> str:
    return f"{video_id}_t{number:04d}"


def low_score_candidates(detections: pa.Table, config: TrackConfig, roi: Roi | None,
                         filter_config: FilterConfig | None) -> np.ndarray:
    """(N,) bool: boxes the filter dropped for their score alone, scoring at least ``low_score_min``.

    The filter records only the FIRST rule a box fails (class, score, then shape and ROI), so a
    box dropped for its score is checked again against every other rule here.
    """
    n = detections.num_rows
    if config.low_score_min is None:
        return np.zeros(n, bool)
    score = detections.column("score").to_numpy()
    reason = detections.column("drop_reason").to_numpy(zero_copy_only=False)
    low = (reason == "score") & (score >= config.low_score_min)
    if not low.any():
        return low
    if roi is None or filter_config is None:
        raise ValueError("the low-score pass (track.low_score_min) needs the ROI and the filter config")
    xyxy = _xyxy(detections)
    classes = np.asarray(detections.column("class_name").to_pylist(), dtype=object)
    # The filter's own rules, with the score rule switched off.
    others = drop_reasons(Detections(xyxy, score, classes), roi, filter_config.model_copy(update={"score_min": 0.0}))
    return low & np.array([r is None for r in others], dtype=bool)


def _xyxy(table: pa.Table) -> np.ndarray:
    return np.stack([table.column(c).to_numpy() for c in ("x1", "y1", "x2", "y2")], axis=1).reshape(-1, 4)


def detector_frames(fps: float, frame_count: int, sample_fps: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices and timestamps (index / fps) of the frames the detect stage runs on.

    The same ``FrameSampler`` as ``video.frames`` (tests check the two agree on real footage).
    """
    sampler = FrameSampler(sample_fps)
    index = np.asarray([i for i in range(frame_count) if sampler.take(i / fps)], dtype=np.int64)
    return index, index / fps


def track_video(detections: pa.Table, config: TrackConfig, location: str, camera: str,
                roi: Roi | None = None, filter_config: FilterConfig | None = None,
                frames: tuple[np.ndarray, np.ndarray] | None = None) -> tuple[pa.Table, dict]:
    """The track stage: one video's filtered detections -> one row per box of a cyclist tracklet.

    Tracks the kept boxes (plus, with ``low_score_min``, the boxes dropped only for their score;
    they need ``roi`` and ``filter_config`` to check the filter's other rules). A tracklet is a
    cyclist when its rider is paired with a bicycle in at least ``min_bicycle_share`` of its
    detected boxes (with ``require_bicycle``). Gaps of up to ``max_gap_s`` are filled by linear
    interpolation at the frames the detector ran on: ``frames`` (indices, timestamps; see
    ``detector_frames``), by default the frames present in ``detections`` (which lacks frames
    where the detector found nothing at all). Returns the TRACKLETS table and counts.
    """
    high = detections.column("kept").to_numpy(zero_copy_only=False)
    low = low_score_candidates(detections, config, roi, filter_config) & ~high
    used = detections.filter(pa.array(high | low))
    low = low[high | low]
    result = track(used.column("timestamp_s").to_numpy(), _xyxy(used), config,
                   used.column("frame_index").to_numpy(), low_score=low)
    paired = used.column("bicycle_detection_id").is_valid().to_numpy(zero_copy_only=False)
    cyclists = [t for t in result.tracklets
                if not config.require_bicycle or paired[t.rows].mean() >= config.min_bicycle_share]

    if frames is None:
        index, first = np.unique(detections.column("frame_index").to_numpy(), return_index=True)
        frames = index, detections.column("timestamp_s").to_numpy()[first]
    frame_index, frame_ts = np.asarray(frames[0], np.int64), np.asarray(frames[1], float)
    parts, interpolated = [], 0
    ts, xyxy = used.column("timestamp_s").to_numpy(), _xyxy(used)
    for number, tl in enumerate(cyclists, start=1):
        picked = used.take(pa.array(tl.rows, pa.int64()))
        tid = tracklet_id(picked.column("video_id")[0].as_py(), number)
        rows = _rows_table(picked, tid, location, camera, low[tl.rows], tl.kf_xyxy)
        at, boxes = interpolate_gaps(ts[tl.rows], xyxy[tl.rows], tl.replaced, frame_ts, config.max_gap_s)
        if at.size:
            filled = _interpolated_table(picked, tid, location, camera, frame_index[at], frame_ts[at], boxes)
            rows = pa.concat_tables([rows, filled]).sort_by("timestamp_s")
            interpolated += at.size
        parts.append(rows)
    table = pa.concat_tables(parts) if parts else schemas.TRACKLETS.empty_table()
    return table, {
        "tracklets": len(cyclists),
        "dropped_not_cyclist": len(result.tracklets) - len(cyclists),
        "dropped_too_short": result.dropped_too_short,
        "low_score_rows": int(table.column("low_score").to_numpy(zero_copy_only=False).sum()),
        "interpolated_rows": interpolated,
    }


def _rows_table(picked: pa.Table, tid: str, location: str, camera: str, low: np.ndarray,
                kf_xyxy: np.ndarray) -> pa.Table:
    n = picked.num_rows
    return schemas.table(schemas.TRACKLETS, {
        "tracklet_id": [tid] * n, "location": [location] * n, "camera": [camera] * n,
        **{name: picked.column(name) for name in schemas.TRACKLETS.names if name in picked.column_names},
        "low_score": low, "interpolated": np.zeros(n, bool),
        **{f"kf_{c}": kf_xyxy[:, k] for k, c in enumerate(("x1", "y1", "x2", "y2"))},
    })


def _interpolated_table(picked: pa.Table, tid: str, location: str, camera: str, frames: np.ndarray,
                        timestamps: np.ndarray, boxes: np.ndarray) -> pa.Table:
    n = len(frames)
    nulls = {name: pa.nulls(n) for name in ("detection_id", "score", "kf_x1", "kf_y1", "kf_x2", "kf_y2")}
    nulls.update({f.name: pa.nulls(n) for f in schemas.TRACKLETS if f.name.startswith("bicycle_")})
    return schemas.table(schemas.TRACKLETS, {
        "tracklet_id": [tid] * n, "location": [location] * n, "camera": [camera] * n,
        "video_id": [picked.column("video_id")[0].as_py()] * n, "frame_index": frames, "timestamp_s": timestamps,
        **{c: boxes[:, k] for k, c in enumerate(("x1", "y1", "x2", "y2"))},
        "model": [picked.column("model")[0].as_py()] * n,
        "low_score": np.zeros(n, bool), "interpolated": np.ones(n, bool), **nulls,
    })


def summarize_tracklets(tracklets: pa.Table) -> pa.Table:
    """One TRACKLET_SUMMARY row per tracklet of a TRACKLETS table (any number of videos).

    Mean score and bicycle share are over the detected rows (interpolated rows have neither).
    """
    rows = tracklets.to_pandas()
    if rows.empty:
        return schemas.TRACKLET_SUMMARY.empty_table()
    rows["detected"] = ~rows["interpolated"]
    rows["paired"] = rows["bicycle_detection_id"].notna()
    grouped = rows.sort_values(["tracklet_id", "timestamp_s"]).groupby("tracklet_id", sort=True)
    detected = rows[rows["detected"]].groupby("tracklet_id", sort=True)
    summary = pd.DataFrame({
        "video_id": grouped["video_id"].first(), "location": grouped["location"].first(),
        "camera": grouped["camera"].first(),
        "first_frame_index": grouped["frame_index"].min(), "last_frame_index": grouped["frame_index"].max(),
        "start_timestamp_s": grouped["timestamp_s"].min(), "end_timestamp_s": grouped["timestamp_s"].max(),
        "n_boxes": grouped.size(), "n_interpolated": grouped["interpolated"].sum(),
        "n_low_score": grouped["low_score"].sum(),
        "mean_score": detected["score"].mean(), "bicycle_share": detected["paired"].mean(),
    }).reset_index()
    summary["duration_s"] = summary["end_timestamp_s"] - summary["start_timestamp_s"]
    return schemas.from_pandas(schemas.TRACKLET_SUMMARY, summary)
