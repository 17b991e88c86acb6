"""The local executor with several processes gives the in-process results."""

from __future__ import annotations

import pandas as pd
import pytest
from support import DEMO

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.errors import UserError
from cyclist_dataset.pipeline.executors import LocalExecutor, make_executor
from cyclist_dataset.pipeline.run import run_pipeline


def test_two_local_processes_give_the_in_process_results(demo_run, tmp_path):
    config, _ = demo_run
    parallel = load_pipeline(DEMO, tmp_path / "ws")
    report = run_pipeline(parallel, executor=LocalExecutor(workers=2), log=lambda line: None)
    assert not report.failed
    for name, keys in {"detections": ["video_id", "detection_id"], "crops": ["crop_path"]}.items():
        expected = (
            pd.read_parquet(config.workspace / "manifests" / name)
            .sort_values(keys)
            .reset_index(drop=True)
        )
        actual = (
            pd.read_parquet(tmp_path / "ws" / "manifests" / name)
            .sort_values(keys)
            .reset_index(drop=True)
        )
        pd.testing.assert_frame_equal(actual, expected)


def test_executor_choice_is_checked():
    with pytest.raises(UserError, match="unknown executor 'spark'"):
        make_executor("spark")
    with pytest.raises(UserError, match="at least 1"):
        LocalExecutor(0)
