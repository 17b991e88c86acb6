"""A release of the real demo workspace: its dataset card states the thesis's statistics."""

from __future__ import annotations

import json
import shutil

import pandas as pd

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.dataset.release import create_release
from cyclist_dataset.pipeline.run import run_pipeline


def test_dataset_card_states_the_thesis_statistics(demo_run, tmp_path):
    config, _ = demo_run
    workspace = tmp_path / "ws"
    shutil.copytree(config.workspace, workspace)
    # The demo's own split (another test may have left the shared workspace split differently).
    run_pipeline(load_pipeline(config.source, workspace), stages=("split",), log=lambda line: None)
    release = create_release(workspace, "demo-1")
    card = (release / "README.md").read_text()
    train = pd.read_parquet(release / "train.parquet")
    hours = pd.read_parquet(workspace / "manifests" / "videos")["duration_s"].sum() / 3600
    assert (
        f"| **radeberg** | 1 camera(s) | {hours:.2f} | {len(train)} | {train['pid'].nunique()} |"
        in card
    )
    assert f"|  | cam1 | {hours:.2f} | {len(train)} | {train['pid'].nunique()} |" in card
    assert "No label version" in card and "yolox_onnx:yolox_nano.onnx@sha256:695e750a" in card
    assert '"max_aspect_ratio": 0.75' in card  # the pipeline's parameters
    for figure in ("tracklet_length.png", "crops_per_identity.png"):
        assert f"(figures/{figure})" in card
        assert (release / "figures" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    meta = json.loads((release / "release.json").read_text())
    crops = pd.read_parquet(workspace / "manifests" / "crops")
    assert meta["counts"]["train"]["images"] == len(train) == (crops["split"] == "train").sum() > 0
    assert meta["labels"] is None
