"""``evaluate``'s numbers recomputed by the independent reference (tests/reid_reference.py) from
the release's own tables, for tests on synthetic and real releases to compare."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from reid_reference import closed_world, euclidean, open_world, tracklet_average

TOLERANCE = 1e-6  # the bar; the float64 paths agree far closer


def reference_numbers(release: Path, vectors: dict[str, np.ndarray], threshold: float) -> dict:
    """The reference's closed- and open-world numbers, in ``Evaluation.as_dict``'s shape."""
    test = pd.read_parquet(release / "test.parquet")
    query_images = set(pd.read_parquet(release / "query.parquet")["image"])
    features = np.stack([vectors[image] for image in test["image"]]).astype(np.float64)
    pids, camids = test["pid"].to_numpy(), test["camid"].to_numpy()
    tracklets = test["tracklet_id"].to_numpy(str)
    levels = {
        "images": (features, pids, camids),
        "tracklets": tracklet_average(features, pids, camids, tracklets)[:3],
    }
    result: dict = {"closed_world": {"thesis": {}}, "open_world": {}}
    for level, (f, p, c) in levels.items():
        distances = euclidean(f, f)
        result["closed_world"]["thesis"][level] = closed_world(distances, p, p, c, c)
        result["open_world"][level] = open_world(distances, p, c, threshold)
    if query_images:
        is_query = test["image"].isin(query_images).to_numpy()
        # a query image stands for its whole tracklet; the gallery is averaged per tracklet
        in_query_tracklet = np.isin(tracklets, tracklets[is_query])
        market = {}
        for level, q, g in (
            ("images", is_query, ~is_query),
            ("tracklets", in_query_tracklet, ~is_query),
        ):
            qf, qp, qc = features[q], pids[q], camids[q]
            gf, gp, gc = features[g], pids[g], camids[g]
            if level == "tracklets":
                qf, qp, qc, _ = tracklet_average(qf, qp, qc, tracklets[q])
                gf, gp, gc, _ = tracklet_average(gf, gp, gc, tracklets[g])
            market[level] = closed_world(euclidean(qf, gf), qp, gp, qc, gc)
        result["closed_world"]["market"] = market
    return result


def assert_same_numbers(ours: dict, reference: dict) -> None:
    """``ours`` (``Evaluation.as_dict()``) equals ``reference`` to ``TOLERANCE``."""
    assert ours["closed_world"].keys() == reference["closed_world"].keys()
    for protocol, levels in reference["closed_world"].items():
        for level, expected in levels.items():
            got = ours["closed_world"][protocol][level]
            assert (got["queries"], got["skipped"]) == (expected["queries"], expected["skipped"])
            if expected["queries"] == 0:  # the reference says 0.0; nothing was measured
                assert got["mAP"] is None and set(got["cmc"].values()) == {None}
                continue
            assert got["mAP"] == pytest.approx(expected["mAP"], abs=TOLERANCE)
            for k, value in expected["cmc"].items():
                assert got["cmc"][str(k)] == pytest.approx(value, abs=TOLERANCE)
    for level, expected in reference["open_world"].items():
        got = ours["open_world"][level]
        assert (got["pairs"], got["positives"]) == (expected["pairs"], expected["positives"])
        for point in ("best", "at_threshold"):
            if point == "best" and expected["positives"] == 0:  # no same-person pair to find
                assert got["best"] is None
                continue
            for key, value in expected[point].items():
                assert got[point][key] == pytest.approx(value, abs=TOLERANCE), (level, point, key)
