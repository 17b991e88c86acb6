"""The evaluation (thesis Section III.C): checked against the thesis's worked example, against
reference values committed from an independent implementation (tests/reid_reference.py, and
torchreid's evaluate_rank where installed), and end to end on a release with every feature
file format and the command."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from evaluation_check import assert_same_numbers, reference_numbers
from reid_reference import euclidean, fingerprint, synthetic_test_set, tracklet_average
from support import REPO, cli_app
from synthetic_workspace import T0, Tracklet, make_workspace
from typer.testing import CliRunner

from cyclist_dataset.dataset.evaluation import (
    Features,
    colour_features,
    evaluate,
    metrics,
    read_features,
    write_features,
    write_report,
)
from cyclist_dataset.dataset.labels import import_labels
from cyclist_dataset.dataset.release import create_release
from cyclist_dataset.errors import UserError

REFERENCE = json.loads((REPO / "tests" / "fixtures" / "evaluation_reference.json").read_text())
runner = CliRunner()


def test_the_thesis_worked_example_figure_10():
    """Three rankings of six gallery images: matches at places {1, 4}, {2, 5} and {1}."""
    gallery_pids = np.array([1, 1, 2, 2, 3, 0])  # 0: a distractor, never a match
    distances = np.array(
        [
            [1, 4, 2, 3, 5, 6],  # pid 1 at places 1 and 4: AP (1/1 + 2/4) / 2 = 75%
            [1, 3, 2, 5, 4, 6],  # pid 2 at places 2 and 5: AP (1/2 + 2/5) / 2 = 45%
            [2, 3, 4, 5, 1, 6],  # pid 3 at place 1: AP 100%
        ],
        float,
    )
    result = metrics.closed_world(
        metrics.matrix_rows(distances), np.array([1, 2, 3]), np.zeros(3), gallery_pids, np.ones(6)
    )
    assert result.cmc[1] == pytest.approx(2 / 3) and f"{100 * result.cmc[1]:.1f}" == "66.7"
    assert result.mAP == pytest.approx((0.75 + 0.45 + 1.0) / 3)
    assert f"{100 * result.mAP:.1f}" == "73.3"
    assert (result.queries, result.skipped) == (3, 0)


def test_ties_count_against_the_model_and_same_camera_matches_are_left_out():
    # The match ties with a non-match: ranked second, not first.
    tie = metrics.closed_world(
        metrics.matrix_rows(np.array([[1.0, 1.0]])), [1], [0], np.array([2, 1]), np.array([1, 1])
    )
    assert tie.cmc[1] == 0.0 and tie.mAP == 0.5
    # The only other image of pid 1 is in the query's camera: nothing left to find, skipped;
    # a distractor query is never evaluated.
    skipped = metrics.closed_world(
        metrics.matrix_rows(np.array([[0.1, 0.5], [0.2, 0.1]])),
        [1, 0],
        [0, 1],
        np.array([1, 0]),
        np.array([0, 1]),
    )
    assert (skipped.queries, skipped.skipped) == (0, 2)


def _synthetic() -> dict:
    data = synthetic_test_set(**REFERENCE["synthetic_test_set"]["arguments"])
    assert fingerprint(data) == REFERENCE["synthetic_test_set"]["sha256"]  # the same test set
    return data


def _closed(result: metrics.ClosedWorld, expected: dict) -> None:
    assert (result.queries, result.skipped) == (expected["queries"], expected["skipped"])
    assert result.mAP == pytest.approx(expected["mAP"], abs=1e-9)
    for k in (1, 5, 10):
        assert result.cmc[k] == pytest.approx(expected["cmc"][str(k)], abs=1e-9)


def _open(result: metrics.OpenWorld, expected: dict) -> None:
    assert (result.pairs, result.positives) == (expected["pairs"], expected["positives"])
    for name in ("best", "at_threshold"):
        ours = getattr(result, name).as_dict()
        for key, value in expected[name].items():
            assert ours[key] == pytest.approx(value, abs=1e-9), (name, key)


@pytest.mark.parametrize("chunk_rows", [512, 7])
def test_thesis_protocol_equals_the_committed_reference_values(chunk_rows):
    data = _synthetic()
    sets = {
        "images": (data["features"], data["pids"], data["camids"]),
        "tracklets": tracklet_average(
            data["features"], data["pids"], data["camids"], data["tracklets"]
        )[:3],
    }
    for level, (features, pids, camids) in sets.items():
        expected = REFERENCE["thesis"][level]
        closed = metrics.ClosedWorldCounter(pids, camids, pids, camids)
        positives = metrics.positive_pair_distances(features, pids, camids, "euclidean")
        opened = metrics.OpenWorldCounter(positives, pids, camids, threshold=1.0)
        rows = metrics.feature_rows(features, features, "euclidean")
        metrics.scan(rows, len(pids), closed, opened, chunk_rows=chunk_rows)
        _closed(closed.result(), expected["closed_world"])
        _open(opened.result(), expected["open_world"])
        # the same from the reference's own distance matrix
        matrix = euclidean(features, features)
        _open(
            metrics.open_world(
                metrics.matrix_rows(matrix),
                metrics.positive_pairs_of_matrix(matrix, pids, camids),
                pids,
                camids,
                1.0,
                chunk_rows,
            ),
            expected["open_world"],
        )


def test_market_protocol_equals_the_committed_reference_values():
    data = _synthetic()
    images = (data["features"], data["pids"], data["camids"])
    tracklets = tracklet_average(data["features"], data["pids"], data["camids"], data["tracklets"])
    for level, (features, pids, camids) in (("images", images), ("tracklets", tracklets[:3])):
        expected = REFERENCE["market"][level]
        query = np.zeros(len(pids), bool)
        query[expected["query_indices"]] = True
        result = metrics.closed_world(
            metrics.feature_rows(features[query], features[~query], "euclidean"),
            pids[query],
            camids[query],
            pids[~query],
            camids[~query],
        )
        _closed(result, expected["closed_world"])


def test_torchreid_evaluate_rank_agrees_on_the_same_distances():
    torchreid = pytest.importorskip("torchreid")  # the committed values above always assert
    data = _synthetic()
    labelled = data["pids"] != metrics.DISTRACTOR
    matrix = euclidean(data["features"], data["features"])
    cmc, mean_ap = torchreid.metrics.evaluate_rank(
        matrix[labelled],
        data["pids"][labelled],
        data["pids"],
        data["camids"][labelled],
        data["camids"],
        max_rank=10,
        use_cython=False,
    )
    ours = metrics.closed_world(
        metrics.matrix_rows(matrix), data["pids"], data["camids"], data["pids"], data["camids"]
    )
    assert ours.mAP == pytest.approx(float(mean_ap), abs=1e-6)
    for k in (1, 5, 10):
        assert ours.cmc[k] == pytest.approx(float(cmc[k - 1]), abs=1e-6)


def test_open_world_best_threshold_is_the_smallest_of_equal_f1():
    # Two positive pairs at 0.2 and 0.6, a negative at 0.4: F1 is 2/3 at 0.2 and 0.8 at 0.6.
    matrix = np.array([[0, 0.2, 0.4, 0.6], [0.2, 0, 9, 9], [0.4, 9, 0, 9], [0.6, 9, 9, 0]])
    pids, camids = np.array([1, 1, 2, 1]), np.array([0, 1, 2, 3])
    result = metrics.open_world(
        metrics.matrix_rows(matrix),
        metrics.positive_pairs_of_matrix(matrix, pids, camids),
        pids,
        camids,
        threshold=0.5,
    )
    assert result.positives == 3 and result.pairs == 6  # (0,1), (0,3), (1,3) are pid 1
    assert result.best.threshold == 0.6 and result.best.tp == 2 and result.best.fp == 1
    at = result.at_threshold
    assert (at.threshold, at.tp, at.fp, at.fn) == (0.5, 1, 1, 2)


# ---------------------------------------------------------------- on a release


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """Town (cameras A, B, C): five people, each seen by two or three cameras in a colour of
    their own, two unlabelled tracklets (distractors), and one train tracklet."""
    colours = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40), (40, 200, 200)]
    tracklets, rows = [], []
    for person, colour in enumerate(colours):
        for c, camera in enumerate("ABC"[: 2 + person % 2]):
            shade = tuple(min(255, v + 12 * c) for v in colour)
            name = f"town_{camera}_t{person:04d}"
            start = T0 + timedelta(seconds=40 * person + 5 * c)
            tracklets.append(Tracklet(name, camera, start, n=3 + c, colour=shade))
            rows.append(f"{name},p{person}")
    tracklets += [
        Tracklet("town_A_t0100", "A", T0 + timedelta(minutes=5), colour=(120, 120, 120)),
        Tracklet("town_C_t0100", "C", T0 + timedelta(minutes=6), colour=(200, 40, 60)),
        Tracklet("town_A_t0200", "A", T0 - timedelta(minutes=30), split="train"),
    ]
    ws = make_workspace(tmp_path / "ws", tracklets)
    (tmp_path / "labels.csv").write_text("tracklet_id,identity\n" + "\n".join(rows) + "\n")
    import_labels(ws, tmp_path / "labels.csv")
    return create_release(ws, "r1")


def test_evaluate_a_release_equals_the_reference_implementation(release, tmp_path):
    features = colour_features(release)
    test = pd.read_parquet(release / "test.parquet")
    assert list(features.images) == list(test["image"]) and features.vectors.shape[1] == 112
    evaluation = evaluate(release, features, threshold=0.3)
    ours = evaluation.as_dict()
    vectors = dict(zip(features.images, features.vectors, strict=True))
    assert_same_numbers(ours, reference_numbers(release, vectors, 0.3))
    assert ours["test_set"] == {
        "images": len(test),
        "identities": 5,
        "distractor_images": 8,
        "cameras": 3,
        "tracklets": 14,
        "distractor_tracklets": 2,
    }
    # colour is what tells these people apart: the baseline is far above chance (1 in 12)
    assert ours["closed_world"]["thesis"]["tracklets"]["cmc"]["1"] > 0.5
    written = write_report(evaluation, tmp_path / "out")
    assert [p.name for p in written] == [
        "evaluation.json",
        "evaluation.md",
        "open_world.png",
        "cmc.png",
    ]
    assert json.loads(written[0].read_text()) == json.loads(json.dumps(ours))
    table = written[1].read_text()
    thesis = evaluation.closed_world["thesis"]["images"]
    assert f"| images | {thesis.queries} | {100 * thesis.cmc[1]:.1f}% |" in table
    assert written[2].read_bytes()[:4] == b"\x89PNG"


def test_feature_files_in_every_format_give_the_same_numbers(release, tmp_path):
    features = colour_features(release)
    expected = evaluate(release, features).as_dict()
    write_features(features, tmp_path / "f.parquet")
    np.save(tmp_path / "f.npy", features.vectors)
    (tmp_path / "f.txt").write_text("\n".join(features.images) + "\n")
    np.savez(tmp_path / "f.npz", features=features.vectors, images=features.images)
    wide = pd.DataFrame(features.vectors, columns=[f"d{i}" for i in range(112)])
    wide.insert(0, "image", features.images)
    wide.to_parquet(tmp_path / "wide.parquet")
    for name in ("f.parquet", "f.npy", "f.npz", "wide.parquet"):
        read = read_features(tmp_path / name)
        assert evaluate(release, read).as_dict() == expected, name


def test_feature_file_problems_are_named(release, tmp_path):
    features = colour_features(release)
    some = Features(features.images[:-3], features.vectors[:-3])
    with pytest.raises(UserError, match=f"no features for 3 of the {len(features.images)} test"):
        evaluate(release, some, features_source="mine.parquet")
    np.save(tmp_path / "f.npy", features.vectors)
    with pytest.raises(UserError, match=r"f.txt .*--index"):
        read_features(tmp_path / "f.npy")
    (tmp_path / "f.txt").write_text("images/x.jpg\n")
    with pytest.raises(UserError, match=f"1 image keys but {len(features.images)} feature rows"):
        read_features(tmp_path / "f.npy")
    pd.DataFrame({"path": ["a"]}).to_parquet(tmp_path / "bad.parquet")
    with pytest.raises(UserError, match="no `image` column"):
        read_features(tmp_path / "bad.parquet")
    leaky = pd.DataFrame(features.vectors[:, :3], columns=["a", "b", "c"]).assign(
        image=features.images, pid=1
    )
    leaky.to_parquet(tmp_path / "leaky.parquet")
    with pytest.raises(UserError, match="columns pid are release manifest columns"):
        read_features(tmp_path / "leaky.parquet")
    pd.DataFrame({"image": ["a", "b"], "feature": [[1.0, 2.0], None]}).to_parquet(
        tmp_path / "null.parquet"
    )
    with pytest.raises(UserError, match="row 1: no feature vector"):
        read_features(tmp_path / "null.parquet")
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate(release, features, metric="manhattan")


def test_the_evaluate_command(release, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(cli_app(), ["evaluate", str(release), "--baseline", "colour"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "evaluations" / "r1-baseline-colour"
    assert (out / "features-colour.parquet").is_file() and (out / "open_world.png").is_file()
    ours = json.loads((out / "evaluation.json").read_text())
    rank1 = ours["closed_world"]["thesis"]["images"]["cmc"]["1"]
    assert f"| images | {ours['closed_world']['thesis']['images']['queries']} | " in result.output
    assert f"{100 * rank1:.1f}%" in result.output
    # the written features evaluate to the same numbers, with --features and a cosine metric too
    again = runner.invoke(
        cli_app(),
        [
            "evaluate",
            str(release),
            "--features",
            str(out / "features-colour.parquet"),
            "--out",
            "second",
            "--threshold",
            "0.25",
        ],
    )
    assert again.exit_code == 0, again.output
    second = json.loads((tmp_path / "second" / "evaluation.json").read_text())
    assert second["closed_world"] == ours["closed_world"]
    assert second["open_world"]["images"]["at_threshold"]["threshold"] == 0.25
    both = runner.invoke(cli_app(), ["evaluate", str(release)])
    assert both.exit_code != 0 and "--features FILE" in str(both.exception)
    nan = runner.invoke(
        cli_app(), ["evaluate", str(release), "--baseline", "colour", "--threshold", "nan"]
    )
    assert "give a finite distance" in str(nan.exception)
    inside = runner.invoke(
        cli_app(), ["evaluate", str(release), "--baseline", "colour", "--out", str(release / "x")]
    )
    assert "inside the release" in str(inside.exception)


def test_nothing_to_rank_is_not_a_score_of_zero(release, tmp_path):
    """Without labels every test tracklet is a distractor: no query, so no CMC or mAP at all."""
    unlabelled = create_release(release.parents[1], "r0", labels="none")
    evaluation = evaluate(unlabelled, colour_features(unlabelled), threshold=0.3)
    thesis = evaluation.closed_world["thesis"]["images"]
    assert thesis.queries == 0 and thesis.mAP is None and set(thesis.cmc.values()) == {None}
    assert evaluation.open_world["images"].best is None  # no pair of one person
    assert evaluation.open_world["images"].at_threshold.fp > 0  # but pairs of others
    table = write_report(evaluation, tmp_path / "out")[1].read_text()
    assert "| images | 0 | n/a | n/a | n/a | n/a |" in table and "nothing to rank" in table
