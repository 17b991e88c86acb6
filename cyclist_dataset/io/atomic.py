"""Atomic writes: a file or folder appears complete under its name, or not at all.

Everything the tool writes goes through here. Temporaries sit beside their target under a hidden
name (readers of a folder never see them) and are renamed into place only when complete, so a
crash leaves either the old result or the new one, never half of one. The workspace lock removes
what a killed process left: only files and folders named by this module (``is_temporary``,
``PARTIAL_SUFFIX``), never a user's own ``.tmp`` files.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from cyclist_dataset.errors import UserError

TEMP_MARK = ".cyclist-tmp"  # in every temporary file's name, so the lock removes ours alone
_TEMP_NAME = re.compile(r"^\..+\.[A-Za-z0-9_]{8}" + re.escape(TEMP_MARK) + r"(\.[A-Za-z0-9]+)?$")
PARTIAL_SUFFIX = ".partial"  # unfinished folders (atomic_dir); removed under the workspace lock


@contextmanager
def atomic_path(target: Path, extension: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; it replaces ``target`` only if the block succeeds.

    The temporary name starts with a dot, so Parquet readers of the folder never see it.
    ``extension`` lets writers that pick a format by extension (OpenCV's VideoWriter) see the
    right one.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=f"{TEMP_MARK}{extension}", dir=target.parent
    )
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, _FILE_MODE)  # mkstemp makes it private; a result is an ordinary file
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def _read_umask() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


# The mode an ordinary new file gets (0o666 less the umask), as `open` would give it. Read once, at
# import: os.umask can only be read by setting it, which is not safe while threads write crops.
_FILE_MODE = 0o666 & ~_read_umask()


def is_temporary(path: Path) -> bool:
    """A temporary file of ``atomic_path`` (complete or not), by its name."""
    return bool(_TEMP_NAME.match(path.name))


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_if_changed(target: Path, data: bytes) -> bool:
    """``write_bytes``, unless the file already holds exactly these bytes: a rerun with nothing
    new changes no file. Returns whether it wrote."""
    try:
        if target.is_file() and target.read_bytes() == data:
            return False
    except OSError:  # unreadable: write it anew
        pass
    write_bytes(target, data)
    return True


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Build a folder under a hidden temporary name beside ``target``; it becomes ``target`` only
    if the block succeeds, so nobody ever sees a half-written folder."""
    if target.exists():
        raise UserError(
            f"{target} already exists; choose another name (existing results are never overwritten)"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(
        tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=target.parent)
    )
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private
        try:
            os.rename(tmp, target)  # fails if a non-empty target appeared meanwhile
        except OSError:
            raise UserError(
                f"{target} was created by someone else meanwhile; choose another name"
            ) from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_partials(folder: Path) -> None:
    """Unfinished folders left by a killed command (call while holding the workspace lock)."""
    if folder.is_dir():
        for stale in folder.glob(f".*{PARTIAL_SUFFIX}"):
            shutil.rmtree(stale, ignore_errors=True)


def publish(finished: Path, target: Path) -> None:
    """Move a finished file or folder into place in one step (same file system); never over an
    existing one."""
    if target.exists():
        raise UserError(f"{target} already exists; nothing is overwritten")
    os.rename(finished, target)


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link (no space, and crops are only ever replaced, never rewritten in place), or a copy
    where links are impossible (another file system)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
