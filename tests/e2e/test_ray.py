"""The Ray executor on a local Ray instance (2 CPUs): same results as the local executor, also after
a worker is killed in the middle of a unit."""

from __future__ import annotations

import hashlib

import pandas as pd
import pytest
from support import DEMO

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.pipeline.run import run_pipeline

ray = pytest.importorskip(
    "ray", reason="the Ray executor is an optional extra: pip install 'cyclist-dataset[ray]'"
)

from cyclist_dataset.pipeline.executors import RayExecutor  # noqa: E402  (needs ray)

KEYS = {
    "videos": ["video_id"],
    "detections": ["video_id", "detection_id"],
    "tracklets": ["tracklet_id", "frame_index"],
    "crops": ["crop_path"],
}


def manifests(root) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(root / "manifests" / name).sort_values(keys).reset_index(drop=True)
        for name, keys in KEYS.items()
    }


def crop_bytes(root) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "crops").rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def local_ray(monkeypatch, asset_cache):
    def start(**env: str):
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"CYCLIST_DATASET_CACHE": str(asset_cache), **env}},
        )

    yield start
    ray.shutdown()


def assert_same_as_local(demo_run, workspace) -> None:
    config, _ = demo_run
    expected, actual = manifests(config.workspace), manifests(workspace)
    for name in KEYS:
        pd.testing.assert_frame_equal(actual[name], expected[name])
    assert crop_bytes(workspace) == crop_bytes(config.workspace)


def test_ray_executor_gives_the_local_executors_results(demo_run, local_ray, tmp_path):
    local_ray()
    config = load_pipeline(DEMO, tmp_path / "ray")
    report = run_pipeline(config, executor=RayExecutor(workers=2), log=lambda line: None)
    assert not report.failed and len(report.done) == 6 * len(config.videos)
    assert_same_as_local(demo_run, tmp_path / "ray")


def test_killed_worker_is_retried_and_results_stay_identical(demo_run, local_ray, tmp_path):
    video = "Testvideo_FR20_2020-02-20_13-11-00"  # a video with a tracklet and crops
    local_ray(CYCLIST_DATASET_KILL_ONCE=f"{tmp_path / 'markers'}:{video}:anonymize")
    config = load_pipeline(DEMO, tmp_path / "ray")
    report = run_pipeline(config, executor=RayExecutor(workers=2), log=lambda line: None)
    assert (
        tmp_path / "markers" / f"killed-{video}-anonymize"
    ).exists()  # the worker really died mid-unit
    assert not report.failed
    assert_same_as_local(demo_run, tmp_path / "ray")
