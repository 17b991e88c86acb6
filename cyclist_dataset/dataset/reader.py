"""Reading a release: its metadata, its split tables, and checking its files against its checksums.

The reader side of the project: it needs numpy, pandas and pyarrow only, so that a training
environment can ``pip install cyclist-dataset`` (no pipeline extra) and read, verify, pull and
evaluate releases. Making releases is ``dataset.release`` (the pipeline side).
"""

from __future__ import annotations

import json
import os
import re
import warnings
from pathlib import Path

import pandas as pd

from cyclist_dataset.core import empty_splits
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.hashing import sha256_bytes, sha256_of

RELEASES_DIR = "releases"
SPLITS = ("train", "test", "query", "gallery")
CHECKSUMS = "SHA256SUMS"
# The SHA-256 of SHA256SUMS itself: a file deleted together with its line changes it.
CHECKSUMS_DIGEST = "SHA256SUMS.sha256"
CARD = "README.md"
META = "release.json"

ALLOW_FLAG = "--allow-unaudited"
UNAUDITED_WARNING = (
    "UNAUDITED RELEASE: some crops of this release were not checked by the privacy audit as "
    "currently defined (made with {flag}, for research use only); faces may be recognisable. "
    "Do not publish or share it."
)


class UnauditedReleaseWarning(UserWarning):
    """Reading a release whose crops were not all audited (``release create --allow-unaudited``)
    or a release made before releases were gated on the audit (format < 3)."""


def unaudited_release_message(meta: dict, release_dir: Path) -> str | None:
    """The warning for reading this release, or None when every crop passed the current audit."""
    privacy = meta.get("privacy")
    if privacy is None:
        return (
            f"{release_dir}: made before releases were gated on the privacy audit (format "
            f"{meta.get('format_version', 1)}); its crops may not all have been audited. "
            "Re-release it from an audited workspace."
        )
    if privacy.get("audited", False):
        return None
    return (
        f"{release_dir}: "
        + UNAUDITED_WARNING.format(flag=ALLOW_FLAG)
        + f" ({privacy.get('unaudited_crops', '?')} of {privacy.get('crops', '?')} crops)"
    )


def releases_dir(root: Path) -> Path:
    return Path(root) / RELEASES_DIR


# ---------------------------------------------------------------- checksums


def files_listed(folder: Path) -> list[str]:
    """Every file of a release that SHA256SUMS lists: all but the two checksum files."""
    return sorted(
        p.relative_to(folder).as_posix()
        for p in folder.rglob("*")
        if (p.is_file() or p.is_symlink()) and p.name not in (CHECKSUMS, CHECKSUMS_DIGEST)
    )


# `sha256sum -c` format, strictly: 64 lowercase hex digits, two spaces, a relative path; LF only.
_CHECKSUM_LINE = re.compile(r"^([0-9a-f]{64})  ([^\n\r]+)$")


def _unsafe_name(name: str) -> str | None:
    """Why a listed name cannot be a file of the release, or None."""
    parts = name.split("/")
    if name.startswith("/") or "\\" in name or any(p in ("", ".", "..") for p in parts):
        return "not a plain relative path inside the release"
    return None


def _parse_checksums(text: str) -> tuple[dict[str, str], list[str]]:
    entries: dict[str, str] = {}
    problems = []
    if text and not text.endswith("\n"):
        problems.append(f"{CHECKSUMS}: the last line has no line end")
    for number, line in enumerate(text.split("\n")[:-1] if text else [], 1):
        match = _CHECKSUM_LINE.match(line)
        if not match:
            problems.append(f"{CHECKSUMS}:{number}: malformed line {line!r}")
            continue
        digest, name = match.groups()
        if (why := _unsafe_name(name)) is not None:
            problems.append(f"{CHECKSUMS}:{number}: {name!r} is {why}")
        elif name in entries:
            problems.append(f"{CHECKSUMS}:{number}: {name} is listed twice")
        else:
            entries[name] = digest
    return entries, problems


def verify_release(release_dir: Path) -> tuple[int, list[str]]:
    """Re-hash every file of a release: (files checked, problems). No problems: the release is
    intact. Also checked: SHA256SUMS's own digest and its number of files (a file deleted with its
    line), symbolic links, names that would leave the release, files added later."""
    release_dir = Path(release_dir)
    listing = release_dir / CHECKSUMS
    if not listing.is_file():
        raise UserError(
            f"{release_dir}: no {CHECKSUMS}; this is not a release folder "
            "(see `cyclist-dataset release list WORKSPACE`)"
        )
    raw = listing.read_bytes()
    entries, problems = _parse_checksums(raw.decode("utf-8", errors="replace"))
    root = release_dir.resolve()
    for name, digest in entries.items():
        path = release_dir / name
        if path.is_symlink():
            problems.append(f"{name}: a symbolic link (releases hold only files)")
        elif not path.resolve().is_relative_to(root):
            problems.append(f"{name}: outside the release")
        elif not path.is_file():
            problems.append(f"{name}: missing")
        elif sha256_of(path) != digest:
            problems.append(f"{name}: content changed (SHA-256 differs from {CHECKSUMS})")
    problems += [
        f"{name}: not part of the release (added later)"
        + (" (a symbolic link)" if (release_dir / name).is_symlink() else "")
        for name in files_listed(release_dir)
        if name not in entries
    ]
    problems += _check_listing_itself(release_dir, raw, len(entries))
    return len(entries), problems


def _check_listing_itself(release_dir: Path, raw: bytes, listed: int) -> list[str]:
    meta_path = release_dir / META
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [f"{META}: missing or not JSON"]
    if meta.get("format_version", 1) < 2:
        return []  # releases made before 0.2 record neither
    problems = []
    digest_file = release_dir / CHECKSUMS_DIGEST
    expected = f"{sha256_bytes(raw)}  {CHECKSUMS}\n"
    if not digest_file.is_file() or digest_file.read_text(encoding="utf-8") != expected:
        problems.append(f"{CHECKSUMS}: its SHA-256 differs from {CHECKSUMS_DIGEST} (lines changed)")
    if meta.get("files") != listed:
        problems.append(
            f"{CHECKSUMS} lists {listed} files, {META} recorded {meta.get('files')} "
            "(files removed together with their lines)"
        )
    return problems


# ---------------------------------------------------------------- reading releases


def list_releases(root: Path) -> list[dict]:
    """Every release of a workspace (oldest first) with its label version and split sizes."""
    folder = releases_dir(root)
    found = []
    for path in sorted(folder.iterdir()) if folder.is_dir() else []:
        if path.is_dir() and not path.name.startswith(".") and (path / META).is_file():
            found.append({"path": path, **json.loads((path / META).read_text(encoding="utf-8"))})
    return sorted(found, key=lambda r: (r["created_at"], r["name"]))


def release_meta(release_dir: Path) -> dict:
    path = Path(release_dir) / META
    if not path.is_file():
        raise UserError(
            f"{release_dir}: not a release folder (no {META}); releases are in "
            f"WORKSPACE/{RELEASES_DIR}/NAME"
        )
    return json.loads(path.read_text(encoding="utf-8"))


# Why a split of a release can be empty, and what to do.
EMPTY_SPLIT_CAUSES = {
    "train": f"In the workspace, {empty_splits.CAUSES['train']}.",
    "test": f"In the workspace, {empty_splits.CAUSES['validation']}; or every validation "
    "tracklet was labelled junk or unsure (left out of the test data).",
    "query": "No labelled identity was seen by two or more cameras: label the validation "
    "tracklets across cameras (`cyclist-dataset annotate WORKSPACE`) and make a new release.",
    "gallery": "The test split has no crops besides the queries.",
}


def load_split(release_dir: Path | str, split: str, allow_empty: bool = False) -> pd.DataFrame:
    """One split of a release as a DataFrame (``schemas.RELEASE_SPLIT`` columns) plus ``path``, the
    absolute image file of each row.

    An empty split raises ``UserError`` saying why it may be empty (a training loop would otherwise
    fail far from the cause), unless ``allow_empty``."""
    release_dir = Path(release_dir)
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; splits are {', '.join(SPLITS)}")
    warning = unaudited_release_message(release_meta(release_dir), release_dir)
    if warning is not None:
        warnings.warn(warning, UnauditedReleaseWarning, stacklevel=2)
    frame = pd.read_parquet(release_dir / f"{split}.parquet")
    if len(frame) == 0 and not allow_empty:
        raise UserError(f"{release_dir}: the {split} split is empty. {EMPTY_SPLIT_CAUSES[split]}")
    root = release_dir.resolve()
    paths = [root / image for image in frame["image"]]
    for row, (image, path) in enumerate(zip(frame["image"], paths, strict=True)):
        if not image.startswith("images/") or not path.resolve().is_relative_to(root / "images"):
            raise UserError(
                f"{release_dir / f'{split}.parquet'}: row {row}: image {image!r} lies outside the "
                "release's images/ folder; the release was tampered with "
                "(`cyclist-dataset release verify`)"
            )
    frame["path"] = [os.fspath(path) for path in paths]
    return frame
