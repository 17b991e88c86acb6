"""The unit tier: synthetic data only. Every test runs with an empty asset cache and no mirror, so
a test that reads a model or a video fails here instead of passing on a developer's warm cache."""

import pytest

from cyclist_dataset.io import assets


@pytest.fixture(autouse=True)
def _no_assets(tmp_path_factory, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path_factory.getbasetemp() / "empty-asset-cache"))
    monkeypatch.delenv(assets.MIRROR_ENV, raising=False)
    monkeypatch.setattr(assets, "_verified", set())


@pytest.fixture(autouse=True, scope="module")
def _synthetic_audit_is_current():
    """Releases are gated on the current audit's definition, which names the face models' files;
    here the synthetic workspaces' audit stands in for it, per module (autouse: before the
    module fixtures that make releases), so that it never reaches the tiers that run the real
    audit, whatever order the tests run in."""
    from synthetic_workspace import SYNTHETIC_AUDIT

    from cyclist_dataset.dataset import privacy

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(privacy, "reference_audit", lambda: SYNTHETIC_AUDIT)
        yield
