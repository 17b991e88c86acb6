"""The asset registry: seeding with hash checks, and a clear error when offline with nothing to seed
from."""

from __future__ import annotations

import shutil

import pytest
from support import SHARED_ASSETS

from cyclist_dataset.errors import AssetError
from cyclist_dataset.io import assets
from cyclist_dataset.io.hashing import sha256_of

NAME = "models/coco_classes.txt"


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(assets.CACHE_ENV, str(tmp_path / "cache"))
    # nothing seeds itself behind the test's back
    monkeypatch.delenv(assets.MIRROR_ENV, raising=False)
    monkeypatch.setattr(assets, "_verified", set())
    return tmp_path / "cache"


def test_registry_pins_every_shared_asset_by_commit_and_hash():
    for asset in assets.REGISTRY.values():
        assert asset.url.startswith("https://raw.githubusercontent.com/")
        assert len(asset.sha256) == 64
        local = SHARED_ASSETS / asset.name
        if local.is_file():
            assert sha256_of(local) == asset.sha256, asset.name


def test_seed_copies_and_verifies(empty_cache):
    assert NAME in assets.missing()
    with pytest.raises(AssetError, match="(?s)is not in the cache.*assets fetch --from"):
        assets.path(NAME)
    seeded = assets.seed(SHARED_ASSETS, [NAME])
    assert seeded == [empty_cache / NAME]
    assert assets.path(NAME).read_text().startswith("person\nbicycle")
    assert assets.seed(SHARED_ASSETS, [NAME]) == []  # nothing left to do


def test_seed_rejects_a_file_with_the_wrong_hash(empty_cache, tmp_path):
    source = tmp_path / "source"
    (source / "models").mkdir(parents=True)
    (source / NAME).write_text("person\nbicycle\ntampered\n")
    with pytest.raises(AssetError, match="does not match the registry"):
        assets.seed(source, [NAME])
    assert not (empty_cache / NAME).exists()


def test_corrupt_cached_file_is_not_trusted(empty_cache):
    assets.seed(SHARED_ASSETS, [NAME])
    (empty_cache / NAME).write_text("garbage")
    assets._verified.clear()
    with pytest.raises(AssetError, match="wrong SHA-256"):
        assets.path(NAME)


def test_offline_download_names_missing_files_and_the_from_option(empty_cache, monkeypatch):
    unreachable = assets.Asset(
        NAME, "http://127.0.0.1:9/coco_classes.txt", assets.REGISTRY[NAME].sha256, "x"
    )
    monkeypatch.setitem(assets.REGISTRY, NAME, unreachable)
    with pytest.raises(AssetError) as error:
        assets.download([NAME], progress=False)
    assert NAME in str(error.value) and "--from" in str(error.value)


def test_cli_fetch_from_folder(tmp_path):
    source = tmp_path / "source" / "models"
    source.mkdir(parents=True)
    shutil.copy(SHARED_ASSETS / NAME, source)
    env_cache = tmp_path / "cache"
    import os
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cyclist_dataset",
            "assets",
            "fetch",
            "--from",
            str(tmp_path / "source"),
            "--name",
            NAME,
        ],
        capture_output=True,
        text=True,
        env={**os.environ, assets.CACHE_ENV: str(env_cache)},
    )
    assert result.returncode == 0, result.stderr
    assert (env_cache / NAME).is_file()
    # Seeding everything from a folder that lacks the rest names each missing file.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cyclist_dataset",
            "assets",
            "fetch",
            "--from",
            str(tmp_path / "source"),
        ],
        capture_output=True,
        text=True,
        env={**os.environ, assets.CACHE_ENV: str(env_cache)},
    )
    assert result.returncode == 2
    assert "models/yolox_nano.onnx: not found" in result.stderr
