"""Fixtures shared by the tiers: paths, the asset cache, one demo run, the command line.

Tiers: ``unit/`` (synthetic data only, no assets), ``integration/`` (real footage and models),
``e2e/`` (the command line as a user runs it: kills, Ray). Tests that read assets get them through
``asset_cache``: the cache is seeded from ``../shared/assets`` one asset at a time, when a test
first uses it (``CYCLIST_DATASET_ASSET_MIRROR``), so no test needs assets it does not read.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import DEMO, MULTICAM, SHARED_ASSETS

from cyclist_dataset.core.config import PipelineConfig, load_pipeline
from cyclist_dataset.io import assets
from cyclist_dataset.pipeline.run import RunReport, run_pipeline


@pytest.fixture(scope="session")
def asset_cache() -> Path:
    """The asset cache, with ``../shared/assets`` as its mirror: each asset a test reads is seeded
    (hash-checked) when first used. Without the mirror, assets must already be cached
    (`make assets`)."""
    if SHARED_ASSETS.is_dir():
        # subprocesses and Ray workers inherit it
        os.environ[assets.MIRROR_ENV] = str(SHARED_ASSETS)
    elif assets.missing():
        pytest.fail(
            f"no {SHARED_ASSETS} to seed from, and assets are missing from {assets.cache_dir()}: "
            f"{assets.missing()}; run `make assets`"
        )
    return assets.cache_dir()


@pytest.fixture(scope="session")
def demo_run(
    asset_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PipelineConfig, RunReport]:
    """The demo pipeline, run once on the real Radeberg clips with the real YOLOX-nano model."""
    config = load_pipeline(DEMO, tmp_path_factory.mktemp("demo") / "workspace")
    report = run_pipeline(config, log=lambda line: None)
    assert not report.failed, report.failed
    return config, report


@pytest.fixture(scope="session")
def multicam_run(
    asset_cache: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PipelineConfig, RunReport]:
    """The multicam pipeline (four close-up indoor cameras), run once with its defaults: the privacy
    audit on, as in every example pipeline."""
    config = load_pipeline(MULTICAM, tmp_path_factory.mktemp("multicam") / "workspace")
    report = run_pipeline(config, log=lambda line: None)
    assert not report.failed, report.failed
    return config, report
