"""Synthetic tests for cyclist_dataset.stages.track."""

import numpy as np
import pyarrow as pa
import pytest
import shapely
from filterpy.kalman import KalmanFilter

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import FilterConfig, TrackConfig
from cyclist_dataset.core.roi import Roi
from cyclist_dataset.stages.track import (
    Tracklet,
    association,
    detector_frames,
    interpolate_gaps,
    low_score_candidates,
    summarize_tracklets,
    track_video,
)
from cyclist_dataset.stages.track import kalman as trk
from cyclist_dataset.stages.track import track as track_result
from cyclist_dataset.stages.track.association import OpenTrack
from cyclist_dataset.stages.track.kalman import predicted_boxes


def track(*args, **kwargs) -> list[Tracklet]:
    return track_result(*args, **kwargs).tracklets


def moving(
    t0: float,
    n: int,
    fps: float,
    x0: float,
    vx: float,
    y0: float = 100.0,
    w: float = 100.0,
    h: float = 200.0,
) -> tuple[np.ndarray, np.ndarray]:
    """n boxes of one object moving horizontally at vx px/s, sampled at fps from t0."""
    t = t0 + np.arange(n) / fps
    x = x0 + vx * (t - t0)
    return t, np.column_stack([x, np.full(n, y0), x + w, np.full(n, y0 + h)])


def concat(*parts: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def rows_of(tracklets: list[Tracklet]) -> list[list[int]]:
    return [t.rows.tolist() for t in tracklets]


def test_constant_velocity_20fps_is_one_tracklet():
    t, b = moving(0.0, 40, 20.0, 0.0, 160.0)  # 8 px/frame: last-box IOU 0.85
    out = track(t, b)
    assert rows_of(out) == [list(range(40))]
    assert out[0].number == 1 and out[0].rows.dtype == np.int64


def test_same_motion_sampled_at_5fps_is_one_tracklet():
    t, b = moving(0.0, 10, 5.0, 0.0, 160.0)  # 32 px between samples: IOU 0.52, needs Kalman
    assert rows_of(track(t, b)) == [list(range(10))]


def test_noisy_fast_motion_is_one_tracklet():
    # 30 px/frame (IOU 0.54 between frames) with 4 px detector jitter on every coordinate.
    t, b = moving(0.0, 40, 20.0, 0.0, 600.0)
    b = b + np.random.default_rng(0).normal(0.0, 4.0, b.shape)
    assert rows_of(track(t, b)) == [list(range(40))]


def test_unsorted_input_is_sorted_by_time():
    t, b = moving(0.0, 40, 20.0, 0.0, 160.0)
    perm = np.random.default_rng(0).permutation(40)
    out = track(t[perm], b[perm])
    assert len(out) == 1
    assert perm[out[0].rows].tolist() == list(range(40))


def test_crossing_objects_keep_identities():
    # A moves right, B moves left; they overlap heavily (IOU up to 0.74) mid-way.
    a = moving(0.0, 40, 20.0, 0.0, 160.0, y0=100.0)
    b = moving(0.0, 40, 20.0, 312.0, -160.0, y0=130.0)
    t, boxes = concat(a, b)
    # Interleave so both objects appear in every frame, in alternating row order.
    i = np.arange(40)
    order = np.argsort(np.r_[2 * i + i % 2, 2 * i + 1 - i % 2])
    t, boxes = t[order], boxes[order]
    is_a = order < 40
    out = track(t, boxes)
    assert len(out) == 2
    for tl in out:
        assert len(tl.rows) == 40
        assert is_a[tl.rows].all() or (~is_a[tl.rows]).all()
        assert np.all(np.diff(t[tl.rows]) > 0)


def test_short_gap_is_bridged():
    before = moving(0.0, 20, 20.0, 0.0, 160.0)
    t_gap = before[0][-1] + 0.3  # detector missed 5 frames; shift 48 px, last-box IOU 0.35
    after = moving(t_gap, 20, 20.0, 160.0 * t_gap, 160.0)
    t, b = concat(before, after)
    assert rows_of(track(t, b)) == [list(range(40))]


@pytest.mark.parametrize("gap, expected", [(0.3, 1), (0.5, 1), (1.0, 2)])
def test_expiration_in_seconds(gap, expected):
    # Wide, slow box at 5 fps: even after 1 s the last-box IOU is 0.33 and the Kalman
    # prediction is exact, so only the expiration time can split it.
    before = moving(0.0, 5, 5.0, 0.0, 100.0, w=200.0)
    t_gap = before[0][-1] + gap
    after = moving(t_gap, 5, 5.0, 100.0 * t_gap, 100.0, w=200.0)
    t, b = concat(before, after)
    online = TrackConfig(stitch_max_gap_s=0.0)  # the online tracker alone
    out = track(t, b, online)
    assert len(out) == expected
    if expected == 2:
        assert rows_of(out) == [list(range(5)), list(range(5, 10))]
    # With a longer expiration the 1 s gap is bridged too.
    assert len(track(t, b, online.model_copy(update={"expiration_s": 1.5}))) == 1
    # Offline, the two pieces of one motion are stitched (default: up to 1 s apart).
    assert rows_of(track(t, b)) == [list(range(10))]


def test_sparse_boxes_are_noise_not_a_track():
    # A box in every 4th frame (20 fps) for 1.5 s, overlapping where the last one was: the
    # naive matching of young tracks chains them, but they cover 25% of the frames they span.
    sporadic = moving(0.0, 8, 5.0, 0.0, 100.0, y0=600.0)
    subject = moving(0.0, 30, 20.0, 0.0, 160.0)
    seen = np.random.default_rng(1).random(30) < 0.7  # a subject detected in ~70% of frames
    t, b = concat(sporadic, (subject[0][seen], subject[1][seen]))
    every_frame = np.arange(30) / 20.0
    result = track_result(t, b, frame_times=every_frame)
    assert rows_of(result.tracklets) == [list(range(8, 8 + seen.sum()))]
    assert result.dropped_sparse == 1
    kept = track_result(t, b, TrackConfig(min_hit_share=0.0), frame_times=every_frame)
    assert rows_of(kept.tracklets) == [list(range(8)), list(range(8, 8 + seen.sum()))]
    # Frame times that miss some of the rows' frames: those frames count all the same; a time
    # computed another way (a float's last bit) is the same frame.
    for frame_times in (every_frame[::2], every_frame + 1e-12):
        found = track_result(t, b, frame_times=frame_times)
        assert rows_of(found.tracklets) == rows_of(result.tracklets) and found.dropped_sparse == 1
    # Alone in the video, without the frame times (only frames with a box count), it is dense.
    assert len(track_result(*sporadic).tracklets) == 1
    assert len(track_result(*sporadic, frame_times=every_frame).tracklets) == 0


def test_min_pickup_and_numbering():
    # Three far-apart objects; input order deliberately not in start order.
    late = moving(2.0, 10, 20.0, 1000.0, 160.0)  # starts last
    short = moving(0.5, 5, 20.0, 0.0, 160.0, y0=600.0)  # 0.2 s < 0.3 s: dropped
    early = moving(0.0, 7, 20.0, 0.0, 160.0)  # exactly 0.3 s: kept
    t, b = concat(late, short, early)
    out = track(t, b)
    assert [tl.number for tl in out] == [1, 2]
    assert rows_of(out) == [list(range(15, 22)), list(range(10))]
    assert len(track(t, b, TrackConfig(min_pickup_s=0.0))) == 3


def test_numbering_ties_broken_by_first_row():
    a = moving(0.0, 10, 20.0, 0.0, 160.0)
    b = moving(0.0, 10, 20.0, 0.0, 160.0, y0=600.0)
    t, boxes = concat(b, a)
    out = track(t, boxes)
    assert rows_of(out) == [list(range(10)), list(range(10, 20))]


def test_stationary_box_keeps_only_last_row():
    # Identical box over 20 frames: each box replaces the previous one (IOU 1 > iou_max);
    # the track lived 0.95 s, so it passes min pickup, with just the last row...
    t = np.arange(20) / 20.0
    b = np.tile([100.0, 100.0, 200.0, 300.0], (20, 1))
    out = track(t, b, TrackConfig(min_boxes=1))
    assert rows_of(out) == [[19]]
    assert out[0].matched.tolist() == list(range(20)) and out[0].replaced.tolist() == [True]
    # ...unless a tracklet needs more rows.
    result = track_result(t, b, TrackConfig(min_boxes=2))
    assert result.tracklets == [] and result.dropped_too_short == 1


def test_stationary_then_moving_continues_same_track():
    still_t = np.arange(10) / 20.0
    still_b = np.tile([0.0, 100.0, 100.0, 300.0], (10, 1))
    go = moving(0.5, 20, 20.0, 8.0, 160.0)
    t, b = concat((still_t, still_b), go)
    assert rows_of(track(t, b)) == [[9] + list(range(10, 30))]


def test_stationary_short_lifetime_dropped():
    t = np.arange(5) / 20.0  # 0.2 s
    b = np.tile([100.0, 100.0, 200.0, 300.0], (5, 1))
    assert track(t, b) == []


def test_far_box_is_never_assigned():
    # Second object appears far away in the same frames: forbidden pairs must not be assigned.
    a = moving(0.0, 10, 20.0, 0.0, 160.0)
    t, b = concat(a, moving(0.25, 10, 20.0, 900.0, 160.0))
    out = track(t, b)
    assert rows_of(out) == [list(range(10)), list(range(10, 20))]


def test_rejected_kalman_candidates_leave_filter_untouched():
    # Object moving right at 8 px/frame; at frame 10 it is missed and 8 spurious boxes appear
    # 30-44 px behind its last box (last-box IOU >= 0.38 but Kalman IOU <= 0.45 -> rejected).
    # Evaluating those candidates must not advance the filter, or frame 11 would be missed.
    t, b = moving(0.0, 20, 20.0, 0.0, 160.0)
    spurious = [b[9] - [d, 0.0, d, 0.0] for d in np.arange(30.0, 45.0, 2.0)]
    keep = np.arange(20) != 10
    t2 = np.r_[t[keep], np.full(8, t[10])]
    b2 = np.vstack([b[keep], *spurious])
    out = track(t2, b2)
    assert rows_of(out) == [list(range(19))]


def test_prediction_is_in_seconds_and_side_effect_free():
    tr = OpenTrack(1, 0, 0.0, [0.0, 0.0, 100.0, 200.0])
    for k in range(1, 10):  # 160 px/s, sampled at 20 fps
        tr.add(k, k * 0.05, [8.0 * k, 0.0, 100.0 + 8.0 * k, 200.0], stationary=False)
    x, p = list(tr.kf.x), [list(b) if isinstance(b, list) else b for b in tr.kf.p]
    np.testing.assert_allclose(
        predicted_boxes(np.array([tr.kf.state()]), 1.0)[0], [160.0, 0.0, 260.0, 200.0], atol=1.0
    )
    assert tr.kf.x == x and tr.kf.p == p


class FilterpyTrack:
    """The reference: the same model written with filterpy's 7x7 matrices (as track.py once was)."""

    def __init__(self, box: np.ndarray) -> None:
        z = self.z(box)
        s0 = z[2]
        self.kf = KalmanFilter(dim_x=7, dim_z=4)
        self.kf.H = np.eye(4, 7)
        meas = [trk.POS_STD**2, trk.POS_STD**2, (trk.AREA_STD_REL * s0) ** 2, trk.ASPECT_STD**2]
        self.kf.R = np.diag(meas)
        self.kf.P = np.diag(
            meas + [trk.VEL_STD**2, trk.VEL_STD**2, (trk.AREA_RATE_STD_REL * s0) ** 2]
        )
        self.kf.x[:4, 0] = z
        self.q = [trk.ACC_STD**2, trk.ACC_STD**2, (trk.AREA_ACC_STD_REL * s0) ** 2]

    @staticmethod
    def z(box: np.ndarray) -> np.ndarray:
        w, h = box[2] - box[0], box[3] - box[1]
        return np.array([box[0] + w / 2, box[1] + h / 2, w * h, w / h])

    def add(self, dt: float, box: np.ndarray) -> None:
        F = np.eye(7)
        F[0, 4] = F[1, 5] = F[2, 6] = dt
        Q = np.zeros((7, 7))
        for i, q in enumerate(self.q):
            Q[i, i], Q[i, i + 4], Q[i + 4, i], Q[i + 4, i + 4] = (
                q * dt**3 / 3,
                q * dt**2 / 2,
                q * dt**2 / 2,
                q * dt,
            )
        Q[3, 3] = trk.ASPECT_WALK_STD**2 * dt
        if self.kf.x[2, 0] + self.kf.x[6, 0] * dt <= 0:
            self.kf.x[6, 0] = 0.0
        self.kf.predict(F=F, Q=Q)
        self.kf.update(self.z(box))


def test_scalar_kalman_filter_equals_filterpy():
    rng = np.random.default_rng(1)
    box = np.array([100.0, 50.0, 160.0, 190.0])
    ours, reference = OpenTrack(1, 0, 0.0, box.tolist()), FilterpyTrack(box)
    t = 0.0
    for k in range(1, 60):
        dt = float(rng.choice([0.05, 0.1, 0.3]))
        t += dt
        # Moving, growing and jittering; every 10th box shrinks fast (exercises the area guard).
        grow = -0.5 if k % 10 == 0 else 0.02
        box = box + [8.0, 2.0, 8.0 + 60 * grow, 2.0 + 140 * grow] + rng.normal(0, 2.0, 4)
        ours.add(k, t, box.tolist(), stationary=False)
        reference.add(dt, box)
        np.testing.assert_allclose(ours.kf.x, reference.kf.x[:, 0], rtol=1e-9, atol=1e-6)
        P = reference.kf.P
        for i in range(3):
            np.testing.assert_allclose(
                ours.kf.p[i], [P[i, i], P[i, i + 4], P[i + 4, i + 4]], rtol=1e-9, atol=1e-9
            )
        np.testing.assert_allclose(ours.kf.p[3], P[3, 3], rtol=1e-9)
        off_block = P.copy()
        for i in range(3):
            off_block[[i, i, i + 4, i + 4], [i, i + 4, i, i + 4]] = 0
        off_block[3, 3] = 0
        np.testing.assert_allclose(off_block, 0, atol=1e-6)  # the covariance stays block-diagonal


def test_deterministic():
    a = moving(0.0, 40, 20.0, 0.0, 160.0, y0=100.0)
    c = moving(0.0, 40, 20.0, 312.0, -160.0, y0=130.0)
    t, b = concat(a, c)
    first, second = track(t, b), track(t, b)
    assert [(x.number, x.rows.tolist()) for x in first] == [
        (x.number, x.rows.tolist()) for x in second
    ]


def test_empty_input():
    assert track(np.zeros(0), np.zeros((0, 4))) == []


def test_frame_index_consistency_checked():
    t, b = moving(0.0, 10, 20.0, 0.0, 160.0)
    assert len(track(t, b, frame_index=np.arange(10) * 3)) == 1
    with pytest.raises(ValueError):
        track(t, b, frame_index=np.zeros(10, dtype=int))
    with pytest.raises(ValueError):
        track(t, b[:, :3])


# --- options beyond the thesis -------------------------------------------------------------------


def test_min_boxes_counts_rows_and_is_reported():
    t, b = moving(0.0, 7, 20.0, 0.0, 160.0)  # 0.3 s, 7 boxes
    assert len(track(t, b, TrackConfig(min_boxes=7))) == 1
    result = track_result(t, b, TrackConfig(min_boxes=8))
    assert result.tracklets == [] and result.dropped_too_short == 1


def test_low_score_boxes_bridge_a_dip_but_never_start_a_track():
    # 1.5 s at 20 fps; in frames 10-19 the detector's score dips. Without those boxes the gap
    # (0.55 s) outlives the expiration time: two tracklets. As low-score boxes: one.
    t, b = moving(0.0, 30, 20.0, 0.0, 160.0)
    low = (np.arange(30) >= 10) & (np.arange(30) < 20)
    high = ~low
    online = TrackConfig(stitch_max_gap_s=0.0)  # stitching would join the two pieces offline
    assert rows_of(track(t[high], b[high], online)) == [list(range(10)), list(range(10, 20))]
    out = track(t, b, online, low_score=low)
    assert rows_of(out) == [list(range(30))]
    # Low-score boxes alone never start a track.
    assert track(t, b, low_score=np.ones(30, bool)) == []
    # Before the track exists, low-score boxes are ignored: it starts at the first high box.
    assert rows_of(track(t, b, low_score=np.arange(30) < 5)) == [list(range(5, 30))]


def test_low_score_boxes_only_go_to_tracks_left_unmatched():
    t, b = moving(0.0, 20, 20.0, 0.0, 160.0)
    # In every frame a second, slightly shifted low-score box competes with the real one.
    t2, b2 = np.r_[t, t], np.vstack([b, b + 3.0])
    low = np.r_[np.zeros(20, bool), np.ones(20, bool)]
    assert rows_of(track(t2, b2, low_score=low)) == [list(range(20))]
    # Order of the input does not matter: high boxes go first within a frame.
    perm = np.random.default_rng(3).permutation(40)
    out = track(t2[perm], b2[perm], low_score=low[perm])
    assert sorted(perm[out[0].rows].tolist()) == list(range(20))


def test_gate_on_prediction_keeps_fast_objects_at_low_frame_rates():
    # 600 px/s sampled at 10 fps: 60 px between boxes 100 px wide, last-box IOU 0.25 < iou_min,
    # but the Kalman prediction (once the track has two boxes) overlaps almost perfectly.
    t, b = moving(0.0, 15, 10.0, 0.0, 600.0)
    b[:2] = moving(0.0, 2, 10.0, 0.0, 250.0)[1]  # slow first step: the naive match passes iou_min
    b[1] = b[0] + [25.0, 0, 25.0, 0]
    b[2:] = moving(0.2, 13, 10.0, 85.0, 600.0)[1]
    assert len(track(t, b)) == 1
    thesis = track(t, b, TrackConfig(gate_on_prediction=False, min_boxes=1, min_pickup_s=0.0))
    assert len(thesis) > 1


def test_interpolate_gaps_fills_frames_between_rows_only_within_max_gap():
    times = np.array([0.0, 0.2, 0.3, 1.0])
    boxes = np.array([[0.0, 0, 10, 20], [20.0, 0, 30, 20], [30.0, 0, 40, 20], [100.0, 0, 110, 20]])
    frames = np.round(np.arange(0, 21) * 0.05, 10)  # 20 fps
    at, filled = interpolate_gaps(times, boxes, np.zeros(4, bool), frames, max_gap_s=0.3)
    assert at.tolist() == [1, 2, 3, 5]  # 0.05, 0.1, 0.15 and 0.25; not the 0.7 s gap
    np.testing.assert_allclose(filled[:, 0], [5.0, 10.0, 15.0, 25.0])
    assert interpolate_gaps(times, boxes, np.zeros(4, bool), frames, 0.0)[0].size == 0
    # A row that replaced stationary rows: the frames before it were seen, nothing to fill.
    at, _ = interpolate_gaps(times, boxes, np.array([False, True, False, False]), frames, 0.3)
    assert at.tolist() == [5]
    # Only frames the detector ran on get a box (here every other frame, 10 fps).
    at, _ = interpolate_gaps(times, boxes, np.zeros(4, bool), frames[::2], 0.3)
    assert frames[::2][at].tolist() == [0.1]


# --- the track stage on a detections table ------------------------------------------------------

WHOLE_FRAME = Roi(shapely.box(0, 0, 1000, 1000), 1000, 1000)
FILTER = FilterConfig(score_min=0.5, max_aspect_ratio=0.75, min_width_px=30)


def detections_table(
    t: np.ndarray,
    b: np.ndarray,
    score: np.ndarray,
    reason: list,
    bicycle: np.ndarray,
    fps: float = 20.0,
) -> pa.Table:
    n = len(t)
    return schemas.table(
        schemas.DETECTIONS,
        {
            "video_id": ["v"] * n,
            "frame_index": np.round(t * fps).astype(np.int64),
            "timestamp_s": t,
            "detection_id": np.arange(n),
            "class_name": ["person"] * n,
            "score": score,
            **{c: b[:, k] for k, c in enumerate(("x1", "y1", "x2", "y2"))},
            "model": ["m"] * n,
            "bicycle_detection_id": pa.array(
                [1000 + i if p else None for i, p in enumerate(bicycle)], pa.int64()
            ),
            **{
                c: pa.nulls(n, pa.float32())
                for c in ("bicycle_score", "bicycle_x1", "bicycle_y1", "bicycle_x2", "bicycle_y2")
            },
            "kept": [r is None for r in reason],
            "drop_reason": reason,
        },
    )


def rider_with_a_dip() -> pa.Table:
    """A rider over 40 frames (20 fps), paired with a bicycle in every other box. Frames 10-21:
    the score dips below the filter's 0.5 (dropped for "score"); frames 28-30: missed, and no
    other box in them either; at 1.5 s a second box, far away, dropped for its score but also
    too narrow."""
    t, b = moving(0.0, 40, 20.0, 0.0, 160.0, w=60.0, h=120.0)
    score = np.full(40, 0.8)
    score[10:22] = 0.3
    reason = [None if s > 0.5 else "score" for s in score]
    keep = (np.arange(40) < 28) | (np.arange(40) > 30)
    t, b, score, reason = (
        t[keep],
        b[keep],
        score[keep],
        [r for r, k in zip(reason, keep, strict=False) if k],
    )
    t, b = np.r_[t, 1.5], np.vstack([b, [800.0, 0.0, 810.0, 100.0]])
    return detections_table(t, b, np.r_[score, 0.3], reason + ["score"], np.arange(len(t)) % 2 == 0)


EVERY_FRAME = detector_frames(20.0, 40)


def test_track_video_flags_low_score_and_interpolated_rows():
    config = TrackConfig(low_score_min=0.2, max_gap_s=0.25)
    table, extra = track_video(
        rider_with_a_dip(), config, "loc", "cam", WHOLE_FRAME, FILTER, EVERY_FRAME
    )
    assert table.schema == schemas.TRACKLETS
    rows = table.to_pandas()
    assert rows["tracklet_id"].unique().tolist() == ["v_t0001"]
    assert rows["frame_index"].tolist() == list(range(40))  # time order, gap filled, nothing else
    assert rows.loc[rows["low_score"], "frame_index"].tolist() == list(range(10, 22))
    filled = rows[rows["interpolated"]]
    assert filled["frame_index"].tolist() == [28, 29, 30]
    assert filled[["detection_id", "score", "kf_x1", "bicycle_detection_id"]].isna().all().all()
    np.testing.assert_allclose(filled["x1"], 8.0 * np.array([28, 29, 30]), atol=1e-3)
    np.testing.assert_allclose(filled["timestamp_s"], [1.4, 1.45, 1.5])
    detected = rows[~rows["interpolated"]]
    assert detected[["kf_x1", "kf_y1", "kf_x2", "kf_y2"]].notna().all().all()
    # a smooth path: the filter agrees
    np.testing.assert_allclose(detected["kf_x1"], detected["x1"], atol=3.0)
    assert extra == {
        "tracklets": 1,
        "dropped_not_cyclist": 0,
        "dropped_too_short": 0,
        "dropped_sparse": 0,
        "low_score_rows": 12,
        "interpolated_rows": 3,
    }


def test_interpolation_defaults_to_the_frames_in_the_detections_table():
    config = TrackConfig(low_score_min=0.2, max_gap_s=0.25)
    table, extra = track_video(rider_with_a_dip(), config, "loc", "cam", WHOLE_FRAME, FILTER)
    # Frames 28 and 29 hold no box at all, so they are not in the table; frame 30 holds the far box.
    assert table.to_pandas().query("interpolated")["frame_index"].tolist() == [30]
    frames = detector_frames(20.0, 40, sample_fps=10.0)  # had the detector run on every other frame
    table, extra = track_video(
        rider_with_a_dip(), config, "loc", "cam", WHOLE_FRAME, FILTER, frames
    )
    assert table.to_pandas().query("interpolated")["frame_index"].tolist() == [28, 30]


def test_detector_frames_follow_the_sampling_rule():
    index, ts = detector_frames(25.0, 26, sample_fps=10.0)
    # first frame at or after k / 10 s
    assert index.tolist() == [
        0,
        3,
        5,
        8,
        10,
        13,
        15,
        18,
        20,
        23,
        25,
    ]
    np.testing.assert_allclose(ts, index / 25.0)
    assert detector_frames(20.0, 5, sample_fps=30.0)[0].tolist() == [0, 1, 2, 3, 4]


def test_track_video_without_options_uses_kept_boxes_only():
    config = TrackConfig(low_score_min=None, max_gap_s=0.0, stitch_max_gap_s=0.0)
    table, extra = track_video(rider_with_a_dip(), config, "loc", "cam")  # no ROI needed: pass off
    rows = table.to_pandas()
    assert not rows["low_score"].any() and not rows["interpolated"].any()
    assert rows["tracklet_id"].nunique() == 2  # the 0.65 s dip outlives the expiration time
    assert extra["tracklets"] == 2


def test_low_score_pass_needs_the_roi_and_rules():
    with pytest.raises(ValueError, match="ROI"):
        track_video(rider_with_a_dip(), TrackConfig(low_score_min=0.2), "loc", "cam")


def test_low_score_candidates_must_pass_every_other_rule():
    table = rider_with_a_dip()
    config = TrackConfig(low_score_min=0.2)
    candidates = low_score_candidates(table, config, WHOLE_FRAME, FILTER)
    # not the narrow box (the last row)
    assert np.flatnonzero(candidates).tolist() == list(range(10, 22))
    outside = Roi(shapely.box(0, 0, 50, 1000), 1000, 1000)
    assert not low_score_candidates(table, config, outside, FILTER)[10:22].any()
    assert not low_score_candidates(
        table, TrackConfig(low_score_min=0.35), WHOLE_FRAME, FILTER
    ).any()


def test_not_cyclists_and_short_tracks_are_counted():
    t, b = moving(0.0, 20, 20.0, 0.0, 160.0, w=60.0, h=120.0)
    t2, b2 = moving(0.0, 20, 20.0, 0.0, 160.0, y0=500.0, w=60.0, h=120.0)
    t3, b3 = moving(0.0, 3, 20.0, 0.0, 160.0, y0=800.0, w=60.0, h=120.0)
    t, b = np.r_[t, t2, t3], np.vstack([b, b2, b3])
    bicycle = np.r_[np.ones(20, bool), np.zeros(23, bool)]
    table, extra = track_video(
        detections_table(t, b, np.full(43, 0.9), [None] * 43, bicycle), TrackConfig(), "loc", "cam"
    )
    assert extra == {
        "tracklets": 1,
        "dropped_not_cyclist": 1,
        "dropped_too_short": 1,
        "dropped_sparse": 0,
        "low_score_rows": 0,
        "interpolated_rows": 0,
    }
    empty, extra = track_video(
        detections_table(t3, b3, np.full(3, 0.9), [None] * 3, np.ones(3, bool)),
        TrackConfig(),
        "loc",
        "cam",
    )
    assert empty.num_rows == 0 and empty.schema == schemas.TRACKLETS


def test_summarize_tracklets():
    config = TrackConfig(low_score_min=0.2, max_gap_s=0.25)
    table, _ = track_video(
        rider_with_a_dip(), config, "loc", "cam", WHOLE_FRAME, FILTER, EVERY_FRAME
    )
    summary = summarize_tracklets(table)
    assert summary.schema == schemas.TRACKLET_SUMMARY
    row = summary.to_pylist()[0]
    assert row["tracklet_id"] == "v_t0001" and (
        row["location"],
        row["camera"],
        row["video_id"],
    ) == ("loc", "cam", "v")
    assert (row["first_frame_index"], row["last_frame_index"]) == (0, 39)
    assert row["start_timestamp_s"] == 0.0 and row["end_timestamp_s"] == pytest.approx(1.95)
    assert row["duration_s"] == pytest.approx(1.95)
    assert (row["n_boxes"], row["n_interpolated"], row["n_low_score"]) == (40, 3, 12)
    assert row["mean_score"] == pytest.approx((25 * 0.8 + 12 * 0.3) / 37, rel=1e-6)
    assert row["bicycle_share"] == pytest.approx(np.mean([k % 2 == 0 for k in range(37)]))
    assert summarize_tracklets(schemas.TRACKLETS.empty_table()).num_rows == 0


def random_scene(
    seed: int, n_frames: int = 120, n_objects: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Objects crossing at various speeds with jitter, missed boxes, false boxes and low scores."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 800, n_objects), rng.uniform(0, 300, n_objects)
    v, w = rng.uniform(-400, 400, (n_objects, 2)), rng.uniform(30, 90, n_objects)
    t, boxes = [], []
    for f in range(n_frames):
        x, y = x + v[:, 0] / 20, y + v[:, 1] / 80
        seen = rng.random(n_objects) > 0.1
        frame = np.column_stack([x, y, x + w, y + 2 * w])[seen] + rng.normal(0, 3, (seen.sum(), 4))
        false = rng.uniform(0, 800, (rng.poisson(1), 1)) + [0, 0, 50, 100]
        boxes.append(np.vstack([frame, false]))
        t.append(np.full(len(boxes[-1]), f / 20))
    t, b = np.concatenate(t), np.concatenate(boxes)
    return t, b, rng.random(len(t)) < 0.15


@pytest.mark.parametrize("seed", range(5))
def test_pairwise_and_vectorized_matching_agree(monkeypatch, seed):
    t, b, low = random_scene(seed)
    config = TrackConfig(low_score_min=0.1, min_pickup_s=0.0)
    monkeypatch.setattr(association, "SMALL_FRAME", 0)  # always vectorized
    vectorized = track_result(t, b, config, low_score=low).tracklets
    monkeypatch.setattr(association, "SMALL_FRAME", 10**9)  # always pair by pair
    pairwise = track_result(t, b, config, low_score=low).tracklets
    assert len(vectorized) > 10
    assert [(x.rows.tolist(), x.matched.tolist()) for x in vectorized] == [
        (x.rows.tolist(), x.matched.tolist()) for x in pairwise
    ]
    for x, y in zip(vectorized, pairwise, strict=False):
        np.testing.assert_array_equal(x.kf_xyxy, y.kf_xyxy)
