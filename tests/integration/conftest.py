"""Real footage and models: every test here may read assets (seeded on first use)."""

import pytest


@pytest.fixture(autouse=True)
def _assets(asset_cache):
    return asset_cache
