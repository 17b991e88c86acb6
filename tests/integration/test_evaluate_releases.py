"""`evaluate` on releases of the real pipelines: the multicam lab (four cameras, labelled across
them), and the lab with the demo (whose footage is all train): baseline features, and every number
equal to the independent reference implementation's."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
from evaluation_check import assert_same_numbers, reference_numbers
from support import REPO, cli

import cyclist_dataset
from cyclist_dataset.dataset.evaluation import colour_features, evaluate, write_features
from cyclist_dataset.dataset.labels import import_labels
from cyclist_dataset.dataset.release import create_release
from cyclist_dataset.dataset.torch import CameraPKSampler, ReidDataset

LABELS = REPO / "tests" / "fixtures" / "multicam_labels.csv"


def test_the_multicam_release_evaluates_as_the_reference_does(multicam_run, tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(multicam_run[0].workspace, workspace)
    import_labels(workspace, LABELS, by="test")
    lines: list[str] = []
    release = create_release(workspace, "lab", log=lines.append)
    # all of the lab's footage is validation: the release says so, and so does its train split
    assert any("contributes no train crops" in line for line in lines)
    features = colour_features(release)
    evaluation = evaluate(release, features, threshold=0.5)
    ours = evaluation.as_dict()
    vectors = dict(zip(features.images, features.vectors, strict=True))
    assert_same_numbers(ours, reference_numbers(release, vectors, 0.5))
    test = cyclist_dataset.load_split(release, "test")
    thesis = ours["closed_world"]["thesis"]["images"]
    assert thesis["queries"] == (test["pid"] > 0).sum() > 100
    assert ours["test_set"]["identities"] == 2 and ours["test_set"]["cameras"] == 4
    assert ours["open_world"]["tracklets"]["positives"] > 0
    assert "market" in ours["closed_world"]
    # The command, from the written features file, prints and writes the same numbers.
    path = write_features(features, tmp_path / "colour.parquet")
    result = cli(
        "evaluate",
        str(release),
        "--features",
        str(path),
        "--threshold",
        "0.5",
        "--out",
        str(tmp_path / "out"),
    )
    assert result.returncode == 0, result.stderr
    written = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    assert written["closed_world"] == ours["closed_world"]
    assert f"{100 * thesis['mAP']:.1f}%" in result.stdout
    for name in ("evaluation.md", "open_world.png", "cmc.png"):
        assert (tmp_path / "out" / name).is_file()


def test_a_release_of_both_pipelines_trains_and_evaluates(demo_run, multicam_run, tmp_path):
    """The demo's footage is all train (its two crossings fall in the same minutes of the hour),
    the lab's all validation: one workspace holding both locations makes a release with both."""
    workspace = tmp_path / "ws"
    shutil.copytree(multicam_run[0].workspace, workspace)
    shutil.copytree(demo_run[0].workspace, workspace, dirs_exist_ok=True)
    import_labels(workspace, LABELS, by="test")
    lines: list[str] = []
    release = create_release(workspace, "both", log=lines.append)
    warned = [line for line in lines if line.startswith("WARNING")]
    assert len(warned) == 2
    assert (
        "'multicam_lab' contributes no train" in warned[0]
        and "'radeberg' contributes no validation" in (warned[1])
    )
    train = ReidDataset(release, "train")
    assert set(cyclist_dataset.load_split(release, "train")["location"]) == {"radeberg"}
    batches = list(CameraPKSampler(train, p=train.num_pids, k=4))
    assert len(batches) == 1 and len(batches[0]) == 4 * train.num_pids
    features = colour_features(release)
    evaluation = evaluate(release, features, threshold=0.5)
    ours = evaluation.as_dict()
    vectors = dict(zip(features.images, features.vectors, strict=True))
    assert_same_numbers(ours, reference_numbers(release, vectors, 0.5))
    test = pd.read_parquet(release / "test.parquet")
    assert set(test["location"]) == {"multicam_lab"} and ours["test_set"]["identities"] == 2
    assert np.isfinite(features.vectors).all()
