"""Tracklet purity (tools.track_eval.purity) on small hand-made sequences."""

import numpy as np
import pandas as pd
import pytest

from cyclist_dataset.tools.track_eval import PURE_SHARE, purity


def rows(frames, ids, x, y=100.0, w=50.0, h=100.0, conf=1.0, cls=None) -> pd.DataFrame:
    n = len(frames)
    table = pd.DataFrame(
        {
            "frame": np.asarray(frames),
            "id": np.broadcast_to(ids, n),
            "x": np.broadcast_to(x, n).astype(float),
            "y": np.broadcast_to(y, n).astype(float),
            "w": w,
            "h": h,
            "conf": np.broadcast_to(conf, n).astype(float),
        }
    )
    if cls is not None:
        table = table.assign(col8=np.broadcast_to(cls, n).astype(float), col9=1.0)
    return table


FRAMES = np.arange(1, 41)
TWO_PEOPLE = pd.concat([rows(FRAMES, 1, 100.0), rows(FRAMES, 2, 400.0)], ignore_index=True)


def test_tracks_that_follow_one_person_each_are_pure():
    result = purity(TWO_PEOPLE, TWO_PEOPLE.assign(id=TWO_PEOPLE["id"] + 10))
    assert (result.tracklets, result.pure, result.share) == (2, 2, 1.0)
    # Two tracks on one person (a fragment) are both pure: purity is not about fragmentation.
    fragments = TWO_PEOPLE[TWO_PEOPLE["id"] == 1].assign(id=np.where(FRAMES <= 20, 1, 2))
    assert purity(TWO_PEOPLE, fragments).pure == 2


def test_a_track_that_switches_people_is_not():
    # Track 1 follows person 1 for 30 frames, then person 2; track 2 the rest of each.
    switched = TWO_PEOPLE.copy()
    late = switched["frame"] > 30
    switched.loc[late, "id"] = 3 - switched.loc[late, "id"]
    result = purity(TWO_PEOPLE, switched)
    assert (result.tracklets, result.pure, result.share) == (2, 0, 0.0)


@pytest.mark.parametrize("wrong, pure", [(2, True), (3, False)])
def test_pure_means_at_least_95_percent_of_the_boxes(wrong, pure):
    assert PURE_SHARE == 0.95
    # 40 boxes of person 1 of which `wrong` show person 2 instead: 2/40 = 5% is still pure.
    track = rows(FRAMES, 1, np.where(FRAMES <= wrong, 400.0, 100.0))
    assert purity(TWO_PEOPLE, track).pure == int(pure)


def test_boxes_on_nobody_count_against_a_track():
    track = rows(FRAMES, 1, np.where(FRAMES <= 3, 700.0, 100.0))  # 3 boxes where nobody is
    assert purity(TWO_PEOPLE, track).pure == 0
    # Ground truth that is not scored (conf 0) is nobody too, as TrackEval counts it.
    zero = pd.concat([TWO_PEOPLE, rows(FRAMES[:3], 9, 700.0, conf=0.0)], ignore_index=True)
    assert purity(zero, track).pure == 0


def test_a_match_below_the_threshold_never_wins_the_assignment():
    # Box a overlaps person 1 at IOU 0.47 and person 2 at 0.02; box b overlaps person 1 at 0.60
    # and person 2 at 0.48. The most summed IOU over all pairs is (a, 1) + (b, 2), both below
    # 0.5; among pairs of at least 0.5 only (b, 1) is a match.
    gt = pd.concat(
        [rows([1], 1, 0.0, y=0.0, w=100.0, h=100.0), rows([1], 2, 60.0, y=0.0, w=100.0, h=100.0)],
        ignore_index=True,
    )
    a = rows([1], 10, -36.0, y=0.0, w=100.0, h=100.0)
    b = rows([1], 11, 25.0, y=0.0, w=100.0, h=100.0)
    result = purity(gt, pd.concat([a, b], ignore_index=True))
    assert (result.tracklets, result.pure) == (2, 1)


def test_mot17_rules_score_pedestrians_only():
    gt = pd.concat(
        [rows(FRAMES, 1, 100.0, cls=1), rows(FRAMES, 2, 400.0, cls=7)], ignore_index=True
    )  # 7: a static person, a distractor
    track = rows(FRAMES, 1, np.where(FRAMES <= 10, 400.0, 100.0))
    assert purity(gt, track).pure == 1  # the 10 boxes on the distractor do not count
    assert purity(gt, track, benchmark="MOT15").pure == 0
