"""Tests of the slow re-identification reference (tests/reid_reference.py) itself, on hand-checked
cases, so that the reference can in turn be trusted to check the project's fast implementation."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from reid_reference import (
    closed_world,
    cross_camera_pairs,
    euclidean,
    fingerprint,
    open_world,
    pair_counts,
    synthetic_test_set,
    tracklet_average,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "evaluation_reference.json"


def ints(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


# ---------------------------------------------------------------------------------------------
# closed world


def test_thesis_figure_10_example():
    """Three queries whose matches sit at ranking positions {1, 4}, {2, 5} and {1} among six
    gallery items: AP 0.75, 0.45 and 1.0."""
    g_pids = ints(1, 1, 2, 2, 3, 9)
    g_camids = ints(1, 1, 1, 1, 1, 1)
    q_pids = ints(1, 2, 3)
    q_camids = ints(0, 0, 0)
    # each query's ranking of the six gallery items (position 1 first); distance = position
    rankings = [
        [0, 2, 3, 1, 4, 5],  # pid 1: g0 at 1, g1 at 4
        [0, 2, 1, 4, 3, 5],  # pid 2: g2 at 2, g3 at 5
        [4, 0, 1, 2, 3, 5],  # pid 3: g4 at 1
    ]
    dist = np.zeros((3, 6))
    for q, ranking in enumerate(rankings):
        for position, g in enumerate(ranking, start=1):
            dist[q, g] = float(position)

    per_query = [
        closed_world(dist[[q]], q_pids[[q]], g_pids, q_camids[[q]], g_camids) for q in range(3)
    ]
    assert [r["mAP"] for r in per_query] == pytest.approx([0.75, 0.45, 1.0], abs=1e-12)

    result = closed_world(dist, q_pids, g_pids, q_camids, g_camids, ranks=(1, 2, 5))
    assert result["queries"] == 3 and result["skipped"] == 0
    assert result["cmc"] == pytest.approx({1: 2 / 3, 2: 1.0, 5: 1.0}, abs=1e-12)
    assert result["mAP"] == pytest.approx((0.75 + 0.45 + 1.0) / 3, abs=1e-12)
    assert result["mAP"] == pytest.approx(0.7333333333333333, abs=1e-12)


def test_ties_are_counted_pessimistically():
    """A match tied with a non-match counts as ranked after it."""
    g_pids = ints(1, 2, 1)
    g_camids = ints(1, 1, 1)
    dist = np.array([[1.0, 1.0, 2.0]])  # match g0 tied with non-match g1; match g2 at 3
    result = closed_world(dist, ints(1), g_pids, ints(0), g_camids, ranks=(1, 2, 3))
    assert result["cmc"] == {1: 0.0, 2: 1.0, 3: 1.0}
    assert result["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-12)

    # matches tied with each other are simply consecutive: places 2 and 3 behind the non-match
    dist = np.array([[1.0, 0.5, 1.0]])
    result = closed_world(dist, ints(1), g_pids, ints(0), g_camids, ranks=(1, 2, 3))
    assert result["cmc"] == {1: 0.0, 2: 1.0, 3: 1.0}
    assert result["mAP"] == pytest.approx((1 / 2 + 2 / 3) / 2, abs=1e-12)

    # two matches tied at the top: the first place is a match whichever comes first
    dist = np.array([[0.5, 0.7, 0.5]])
    result = closed_world(dist, ints(1), g_pids, ints(0), g_camids, ranks=(1, 2, 3))
    assert result["cmc"] == {1: 1.0, 2: 1.0, 3: 1.0} and result["mAP"] == 1.0


def test_distractor_queries_are_skipped_and_never_match():
    g_pids = ints(0, 0, 1)
    g_camids = ints(0, 1, 1)
    q_pids = ints(0, 1)
    q_camids = ints(0, 0)
    # the distractor query is nearest the distractors; the pid-1 query too (pid 0 is no match)
    dist = np.array([[0.1, 0.2, 0.9], [0.1, 0.2, 0.3]])
    result = closed_world(dist, q_pids, g_pids, q_camids, g_camids, ranks=(1, 3))
    assert result["queries"] == 1 and result["skipped"] == 1
    assert result["cmc"] == {1: 0.0, 3: 1.0}
    assert result["mAP"] == pytest.approx(1 / 3, abs=1e-12)


def test_same_pid_same_camera_is_removed_and_matchless_queries_are_skipped():
    """Query set = gallery set: each query loses itself and its own camera's images of its pid."""
    pids = ints(1, 1, 1, 2, 2)
    camids = ints(0, 0, 1, 0, 0)  # pid 2 is seen by one camera only: no match left
    features = np.array([[0.0], [0.1], [1.0], [0.5], [0.6]])
    dist = euclidean(features, features)
    result = closed_world(dist, pids, pids, camids, camids, ranks=(1, 2, 3))
    assert result["queries"] == 3 and result["skipped"] == 2
    # image 0: kept gallery = 2 (match, d=1.0), 3 (0.5), 4 (0.6) -> rank 3
    # image 1: kept gallery = 2 (match, 0.9), 3 (0.4), 4 (0.5) -> rank 3
    # image 2: kept gallery = 0 (match, 1.0), 1 (match, 0.9), 3 (0.5), 4 (0.4) -> ranks 3, 4
    assert result["cmc"] == pytest.approx({1: 0.0, 2: 0.0, 3: 1.0})
    ap_2 = (1 / 3 + 2 / 4) / 2
    assert result["mAP"] == pytest.approx((1 / 3 + 1 / 3 + ap_2) / 3, abs=1e-12)


def test_no_valid_query_gives_zeros():
    result = closed_world(np.array([[0.5]]), ints(0), ints(1), ints(0), ints(1))
    assert result == {"cmc": {1: 0.0, 5: 0.0, 10: 0.0}, "mAP": 0.0, "queries": 0, "skipped": 1}


# ---------------------------------------------------------------------------------------------
# open world


def symmetric(n: int, entries: dict[tuple[int, int], float]) -> np.ndarray:
    dist = np.zeros((n, n))
    for (i, j), d in entries.items():
        dist[i, j] = dist[j, i] = d
    return dist


def test_open_world_hand_checked():
    pids = ints(1, 1, 0, 0, 1)
    camids = ints(0, 1, 0, 1, 0)
    dist = symmetric(
        5,
        {
            # cross-camera pairs
            (0, 1): 0.2,  # positive
            (0, 3): 0.4,
            (1, 2): 0.9,
            (1, 4): 0.5,  # positive
            (2, 3): 0.1,  # two distractors: never positive
            (3, 4): 0.8,
            # same-camera pairs: left out, whatever their distance
            (0, 2): 0.3,
            (0, 4): 0.05,
            (1, 3): 0.05,
            (2, 4): 0.6,
        },
    )
    result = open_world(dist, pids, camids, threshold=0.3)
    assert result["pairs"] == 6 and result["positives"] == 2
    # t:   0.1      0.2      0.4      0.5      0.8      0.9
    # F1:  0        1/2      2/5      2/3      4/7      1/2
    assert result["best"] == pytest.approx(
        {"threshold": 0.5, "precision": 0.5, "recall": 1.0, "f1": 2 / 3, "tp": 2, "fp": 2, "fn": 0}
    )
    assert result["at_threshold"] == pytest.approx(
        {"threshold": 0.3, "precision": 0.5, "recall": 0.5, "f1": 0.5, "tp": 1, "fp": 1, "fn": 1}
    )
    # nothing predicted: precision's denominator is 0
    assert open_world(dist, pids, camids, threshold=0.05)["at_threshold"] == {
        "threshold": 0.05,
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "tp": 0,
        "fp": 0,
        "fn": 2,
    }
    assert "at_threshold" not in open_world(dist, pids, camids)


def test_open_world_equal_f1_picks_smallest_threshold():
    pids = ints(1, 1, 2, 2)
    camids = ints(0, 1, 2, 3)
    dist = symmetric(
        4, {(0, 1): 0.1, (0, 2): 0.2, (0, 3): 0.3, (2, 3): 0.4, (1, 2): 0.5, (1, 3): 0.6}
    )
    # t = 0.1: tp 1, fp 0, fn 1 -> F1 2/3; t = 0.4: tp 2, fp 2, fn 0 -> F1 2/3
    best = open_world(dist, pids, camids)["best"]
    assert best["threshold"] == 0.1 and (best["tp"], best["fp"], best["fn"]) == (1, 0, 1)
    assert best["f1"] == pytest.approx(2 / 3, abs=1e-12)


def test_open_world_best_is_the_brute_force_maximum():
    data = synthetic_test_set(seed=3, identities=5, cameras=3, distractor_tracklets=3, dim=4)
    pids, camids = data["pids"], data["camids"]
    dist = euclidean(data["features"], data["features"])
    distances, positive = cross_camera_pairs(dist, pids, camids)
    scored = [pair_counts(distances, positive, t) for t in sorted(set(distances.tolist()))]

    def exact_f1(s: dict) -> Fraction:
        denominator = 2 * s["tp"] + s["fp"] + s["fn"]
        return Fraction(2 * s["tp"], denominator) if denominator else Fraction(0)

    best_f1 = max(exact_f1(s) for s in scored)
    expected = next(s for s in scored if exact_f1(s) == best_f1)  # smallest threshold
    result = open_world(dist, pids, camids)
    assert result["best"] == expected
    assert result["positives"] == int(positive.sum()) > 0
    assert result["pairs"] == len(distances)


# ---------------------------------------------------------------------------------------------
# distances, averaging, the synthetic set


def test_euclidean():
    a = np.array([[0.0, 0.0], [3.0, 4.0]])
    b = np.array([[0.0, 0.0], [6.0, 8.0], [3.0, 0.0]])
    expected = np.array([[0.0, 10.0, 3.0], [5.0, 5.0, 4.0]])
    np.testing.assert_allclose(euclidean(a, b), expected, rtol=0, atol=1e-12)
    assert euclidean(a, b).dtype == np.float64


def test_tracklet_average():
    features = np.array([[1.0, 0.0], [3.0, 2.0], [10.0, 10.0], [5.0, 4.0]])
    pids = ints(2, 2, 0, 2)
    camids = ints(1, 1, 0, 1)
    tracklets = np.array(["c1/t000", "c1/t000", "c0/t000", "c1/t000"])
    f, p, c, t = tracklet_average(features, pids, camids, tracklets)
    assert t.tolist() == ["c0/t000", "c1/t000"]
    np.testing.assert_allclose(f, [[10.0, 10.0], [3.0, 2.0]])
    assert p.tolist() == [0, 2] and c.tolist() == [0, 1]
    with pytest.raises(ValueError):
        tracklet_average(features, ints(2, 3, 0, 2), camids, tracklets)


def test_synthetic_test_set_shape_and_determinism():
    data = synthetic_test_set()
    again = synthetic_test_set()
    assert fingerprint(data) == fingerprint(again)
    assert fingerprint(data) != fingerprint(synthetic_test_set(seed=8))

    features, pids, camids, tracklets = (
        data[k] for k in ("features", "pids", "camids", "tracklets")
    )
    assert features.dtype == np.float64 and features.shape == (len(pids), 16)
    assert pids.dtype == np.int64 and camids.dtype == np.int64
    assert 250 <= len(pids) <= 400
    assert set(pids.tolist()) == set(range(0, 21))
    assert set(camids.tolist()) <= {0, 1, 2, 3}

    images_of = {}
    for pid, cam, name in zip(pids.tolist(), camids.tolist(), tracklets.tolist(), strict=True):
        assert name.startswith(f"c{cam}/t")
        images_of.setdefault(name, []).append((pid, cam))
    assert all(2 <= len(v) <= 8 and len(set(v)) == 1 for v in images_of.values())
    layout = {}  # pid -> camera -> tracklets
    for (pid, cam), *_ in images_of.values():
        layout.setdefault(pid, {}).setdefault(cam, 0)
        layout[pid][cam] += 1
    assert sum(layout[0].values()) == 15
    for pid in range(1, 21):
        assert 1 <= len(layout[pid]) <= 3
        assert all(1 <= n <= 2 for n in layout[pid].values())


def test_fixture_was_made_from_this_generator():
    made = json.loads(FIXTURE.read_text())
    data = synthetic_test_set(seed=made["seed"])
    assert made["synthetic_test_set"]["sha256"] == fingerprint(data)
