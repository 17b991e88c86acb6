"""Shared fixtures: the asset cache (seeded from ../shared/assets when needed) and one demo run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cyclist_dataset.core.config import PipelineConfig, load_pipeline
from cyclist_dataset.io import assets
from cyclist_dataset.pipeline.unit import RunReport, run_pipeline

REPO = Path(__file__).resolve().parents[1]
SHARED_ASSETS = REPO.parent / "shared" / "assets"
DEMO = REPO / "pipelines" / "demo.toml"
CYCLIST_VIDEO = "radeberg_2020-02-20_12-11-17_cyclist"
CARS_ONLY_VIDEOS = [f"Testvideo_FR20_2020-02-20_13-00-0{s}" for s in (0, 3, 6)]


@pytest.fixture(scope="session", autouse=True)
def asset_cache() -> Path:
    if assets.missing() and SHARED_ASSETS.is_dir():
        assets.seed(SHARED_ASSETS)
    missing = assets.missing()
    if missing:
        pytest.fail(f"assets missing from {assets.cache_dir()}: {missing}; run `make assets`")
    return assets.cache_dir()


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[PipelineConfig, RunReport]:
    """The demo pipeline, run once on the real Radeberg clips with the real YOLOX-nano model."""
    config = load_pipeline(DEMO, tmp_path_factory.mktemp("demo") / "workspace")
    report = run_pipeline(config, log=lambda line: None)
    assert not report.failed, report.failed
    return config, report


def cli(*args: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real command line, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "cyclist_dataset", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
