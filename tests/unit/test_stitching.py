"""Offline stitching (cyclist_dataset.stages.track.stitching), on synthetic motions."""

import numpy as np
import pytest
from test_track import concat, moving, rows_of, track

from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.stages.track.stitching import END_FIT_S, end_motion

ONLINE = TrackConfig(stitch_max_gap_s=0.0, min_pickup_s=0.0)  # the online tracker alone
STITCHED = TrackConfig(min_pickup_s=0.0)


def test_a_box_deformed_for_a_frame_no_longer_splits_the_rider():
    # The Radeberg case in miniature: a rider at 20 fps; in frame 20 the box widens to take in
    # the bicycle (70 -> 120 px), in frame 21 its top is cut (the head behind a car), frame 22 is
    # missed. The widened box pulls the Kalman filter off: online the rider is split in two.
    t, b = moving(0.0, 40, 20.0, 0.0, 140.0, w=70.0, h=130.0)
    b[20] += [0.0, 0.0, 50.0, -16.0]
    b[21] += [22.0, 40.0, 0.0, 12.0]
    keep = np.arange(40) != 22
    t, b = t[keep], b[keep]
    assert rows_of(track(t, b, ONLINE)) == [list(range(21)), list(range(21, 39))]
    # Offline the two pieces are one motion: one tracklet.
    assert rows_of(track(t, b, STITCHED)) == [list(range(39))]


def test_a_subject_lost_for_longer_than_the_expiration_is_joined():
    before = moving(0.0, 10, 10.0, 0.0, 100.0)
    after = moving(1.7, 10, 10.0, 170.0, 100.0)  # 0.8 s without a box
    t, b = concat(before, after)
    assert len(track(t, b, ONLINE)) == 2
    assert rows_of(track(t, b, STITCHED)) == [list(range(20))]
    assert len(track(t, b, STITCHED.model_copy(update={"stitch_max_gap_s": 0.5}))) == 2


@pytest.mark.parametrize("later_speed, stitched", [(45.0, True), (-45.0, False)])
def test_pieces_moving_in_opposite_directions_are_never_joined(later_speed, stitched):
    # Slow (0.225 box heights per second) but directed. The later piece overlaps where the
    # earlier one was heading either way; only a piece moving the same way is its continuation.
    before = moving(0.0, 6, 5.0, 0.0, 45.0)
    after = moving(1.6, 6, 5.0, 60.0, later_speed)
    t, b = concat(before, after)
    assert len(track(t, b, ONLINE)) == 2
    assert len(track(t, b, STITCHED)) == (1 if stitched else 2)


def test_a_piece_with_two_possible_continuations_is_joined_to_neither():
    before = moving(0.0, 6, 5.0, 0.0, 45.0)
    upper = moving(1.6, 6, 5.0, 72.0, 45.0, y0=100.0)
    lower = moving(1.6, 6, 5.0, 72.0, 45.0, y0=160.0)
    t, b = concat(before, upper, lower)
    out = track(t, b, STITCHED)
    assert sorted(rows_of(out)) == [list(range(6)), list(range(6, 12)), list(range(12, 18))]
    # Either continuation alone would be joined.
    t, b = concat(before, upper)
    assert len(track(t, b, STITCHED)) == 1


def test_two_pieces_that_could_lead_to_one_are_joined_to_neither():
    upper = moving(0.0, 6, 5.0, 0.0, 45.0, y0=100.0)
    lower = moving(0.0, 6, 5.0, 0.0, 45.0, y0=160.0)
    after = moving(1.6, 6, 5.0, 72.0, 45.0, y0=130.0)
    t, b = concat(upper, lower, after)
    assert len(track(t, b, ONLINE)) == len(track(t, b, STITCHED)) == 3
    t, b = concat(upper, after)  # either one alone would be joined
    assert len(track(t, b, STITCHED)) == 1


def test_a_chain_of_pieces_becomes_one_tracklet():
    parts = [moving(1.6 * k, 10, 10.0, 160.0 * k, 100.0) for k in range(3)]  # 0.7 s gaps
    t, b = concat(*parts)
    assert len(track(t, b, ONLINE)) == 3
    out = track(t, b, STITCHED)
    assert rows_of(out) == [list(range(30))]
    assert not out[0].replaced.any() and out[0].kf_xyxy.shape == (30, 4)


def test_end_motion_is_the_fitted_line_at_either_end():
    t, b = moving(2.0, 30, 20.0, 50.0, 120.0, w=60.0, h=150.0)  # 1.5 s, exact line
    start, end = end_motion(t, b, at_start=True), end_motion(t, b, at_start=False)
    assert start.time == pytest.approx(2.0) and end.time == pytest.approx(t[-1])
    for motion in (start, end):
        assert motion.velocity == pytest.approx([120.0, 0.0])
        assert motion.size == pytest.approx([60.0, 150.0])
        assert motion.box_at(1.0) == pytest.approx([50.0 - 120.0, 100.0, 110.0 - 120.0, 250.0])
    # Only the first END_FIT_S are fitted at the start: a turn later on does not bend it.
    turned = b.copy()
    late = t > 2.0 + END_FIT_S + 0.1
    turned[late] += (t[late, None] - t[late][0]) * [0.0, 300.0, 0.0, 300.0]
    assert end_motion(t, turned, at_start=True).velocity == pytest.approx([120.0, 0.0])
    # A piece of one timestamp has no velocity.
    single = end_motion(t[:1], b[:1], at_start=False)
    assert single.velocity.tolist() == [0.0, 0.0] and not single.directed()
