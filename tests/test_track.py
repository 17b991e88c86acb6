"""Synthetic tests for cyclist_dataset.track."""

import numpy as np
import pytest

from cyclist_dataset.track import TrackConfig, Tracklet, _Track, track


def moving(t0: float, n: int, fps: float, x0: float, vx: float, y0: float = 100.0,
           w: float = 100.0, h: float = 200.0) -> tuple[np.ndarray, np.ndarray]:
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
    out = track(t, b)
    assert len(out) == expected
    if expected == 2:
        assert rows_of(out) == [list(range(5)), list(range(5, 10))]
    # With a longer expiration the 1 s gap is bridged too.
    assert len(track(t, b, TrackConfig(expiration_s=1.5))) == 1


def test_min_pickup_and_numbering():
    # Three far-apart objects; input order deliberately not in start order.
    late = moving(2.0, 10, 20.0, 1000.0, 160.0)    # starts last
    short = moving(0.5, 5, 20.0, 0.0, 160.0, y0=600.0)  # 0.2 s < 0.3 s: dropped
    early = moving(0.0, 7, 20.0, 0.0, 160.0)       # exactly 0.3 s: kept
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
    # the track lived 0.95 s, so it is kept, with just the last row.
    t = np.arange(20) / 20.0
    b = np.tile([100.0, 100.0, 200.0, 300.0], (20, 1))
    assert rows_of(track(t, b)) == [[19]]


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
    tr = _Track(0, 0.0, np.array([0.0, 0.0, 100.0, 200.0]))
    for k in range(1, 10):  # 160 px/s, sampled at 20 fps
        tr.add(k, k * 0.05, np.array([8.0 * k, 0.0, 100.0 + 8.0 * k, 200.0]), stationary=False)
    x, P = tr.kf.x.copy(), tr.kf.P.copy()
    np.testing.assert_allclose(tr.predict_box(1.0), [160.0, 0.0, 260.0, 200.0], atol=1.0)
    np.testing.assert_array_equal(tr.kf.x, x)
    np.testing.assert_array_equal(tr.kf.P, P)


def test_deterministic():
    a = moving(0.0, 40, 20.0, 0.0, 160.0, y0=100.0)
    c = moving(0.0, 40, 20.0, 312.0, -160.0, y0=130.0)
    t, b = concat(a, c)
    first, second = track(t, b), track(t, b)
    assert [(x.number, x.rows.tolist()) for x in first] == [(x.number, x.rows.tolist()) for x in second]


def test_empty_input():
    assert track(np.zeros(0), np.zeros((0, 4))) == []


def test_frame_index_consistency_checked():
    t, b = moving(0.0, 10, 20.0, 0.0, 160.0)
    assert len(track(t, b, frame_index=np.arange(10) * 3)) == 1
    with pytest.raises(ValueError):
        track(t, b, frame_index=np.zeros(10, dtype=int))
    with pytest.raises(ValueError):
        track(t, b[:, :3])
