"""The unit tier: synthetic data only. Every test runs with an empty asset cache and no mirror, so
a test that reads a model or a video fails here instead of passing on a developer's warm cache."""

import pytest

from cyclist_dataset.io import assets


@pytest.fixture(autouse=True)
def _no_assets(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "empty-asset-cache"))
    monkeypatch.delenv(assets.MIRROR_ENV, raising=False)
    monkeypatch.setattr(assets, "_verified", set())
