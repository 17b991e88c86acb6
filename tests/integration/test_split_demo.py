"""The split stage on the demo workspace: the guard band on the real crossing, its recorded cost."""

from __future__ import annotations

import shutil

import pandas as pd
from support import CYCLIST_VIDEO

from cyclist_dataset.core.config import SplitConfig, load_pipeline
from cyclist_dataset.pipeline.run import run_pipeline
from cyclist_dataset.stages.split import split_stats


def test_guard_band_on_the_real_crossing(demo_run, tmp_path):
    """The demo cyclist crossed at 12:11:17-12:11:20 local: a window starting at minute 11 puts a
    boundary some 17 s before its first crop. A 30 s band drops it; a 10 s band keeps it, whole, in
    validation."""
    config, _ = demo_run
    workspace = tmp_path / "ws"
    shutil.copytree(config.workspace, workspace)
    base = load_pipeline(config.source, workspace)
    results = {}
    for guard in (30.0, 10.0):
        split = SplitConfig(validation_start_minute=11, validation_minutes=10, guard_s=guard)
        report = run_pipeline(
            base.model_copy(update={"split": split}), stages=("split",), log=lambda line: None
        )
        assert not report.failed and ("split", CYCLIST_VIDEO) in report.done
        crops = pd.read_parquet(workspace / "manifests" / "crops")
        results[guard] = crops[crops["video_id"] == CYCLIST_VIDEO]
    assert results[30.0].empty
    kept = results[10.0]
    written = pd.read_parquet(workspace / "stages" / "anonymize" / f"{CYCLIST_VIDEO}.parquet")
    assert len(kept) == len(written) > 40 and set(kept["split"]) == {"validation"}
    assert kept["tracklet_id"].nunique() == 1
    first = kept["timestamp"].min().tz_convert("Europe/Berlin")
    assert (first.hour, first.minute) == (
        12,
        11,
    ) and 10 < first.second + first.microsecond / 1e6 < 30


def test_guard_band_cost_is_recorded_per_video(demo_run, tmp_path):
    config, _ = demo_run
    workspace = tmp_path / "ws"
    shutil.copytree(config.workspace, workspace)
    split = SplitConfig(validation_start_minute=11, validation_minutes=10, guard_s=30)
    run_pipeline(
        load_pipeline(config.source, workspace).model_copy(update={"split": split}),
        stages=("split",),
        log=lambda line: None,
    )
    stats = split_stats(workspace)
    assert CYCLIST_VIDEO in stats.index, (
        "the split stage must return split.split_crops(...) (table, extra metadata)"
    )
    written = len(pd.read_parquet(workspace / "stages" / "anonymize" / f"{CYCLIST_VIDEO}.parquet"))
    assert stats.loc[
        CYCLIST_VIDEO, ["guard_band_tracklets", "guard_band_crops", "crops_in"]
    ].tolist() == [1, written, written]


def test_no_tracklet_is_in_two_splits_of_the_demo_workspace(demo_run, tmp_path):
    config, _ = demo_run
    workspace = tmp_path / "ws"
    shutil.copytree(config.workspace, workspace)
    run_pipeline(load_pipeline(config.source, workspace), stages=("split",), log=lambda line: None)
    crops = pd.read_parquet(workspace / "manifests" / "crops")
    assert len(crops) > 0 and (crops.groupby("tracklet_id")["split"].nunique() == 1).all()
    assert set(crops["split"]) <= {"train", "validation"}
