"""Releases that pull can neither escape nor change, and a `release verify` that is not fooled."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import signal
import stat
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from synthetic_workspace import town
from test_labels import digests, write

from cyclist_dataset.dataset.labels import import_labels
from cyclist_dataset.dataset.pull import pull
from cyclist_dataset.dataset.release import (
    CHECKSUMS,
    META,
    _write_checksums,
    create_release,
    load_split,
    verify_release,
)
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.faults import KILL_ENV


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A workspace with one release, made once; each test tampers with its own copy."""
    root = tmp_path_factory.mktemp("pristine")
    workspace = town(root / "ws")
    write(root / "l.csv", "tracklet_id,identity\ntown_A_t0001,p1\ntown_B_t0001,p1\n")
    import_labels(workspace, root / "l.csv")
    create_release(workspace, "v1")
    return workspace


@pytest.fixture
def release(pristine: Path, tmp_path: Path) -> Path:
    shutil.copytree(pristine, tmp_path / "ws", symlinks=True)
    return tmp_path / "ws" / "releases" / "v1"


def writable(path: Path) -> Path:
    path.chmod(0o644)
    return path


def test_release_files_are_read_only_for_all_and_readable_by_all(release):
    files = [p for p in release.rglob("*") if p.is_file()]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o444 for p in files)
    crops = [p for p in (release.parent.parent / "crops").rglob("*.jpg")]
    assert crops and all(p.stat().st_mode & stat.S_IROTH for p in crops)


def test_pulled_images_are_independent_copies(release, tmp_path):
    pull(release, "train", tmp_path / "out", "parquet")
    pulled = sorted((tmp_path / "out" / "train").rglob("*.jpg"))
    source = {p.name: p for p in (release / "images").rglob("*.jpg")}
    assert pulled and all(p.stat().st_ino != source[p.name].stat().st_ino for p in pulled)
    pulled[0].write_bytes(b"edited by a user")  # writable, and only the copy changes
    assert verify_release(release)[1] == []


def test_pull_refuses_a_changed_release_and_writes_nothing(release, tmp_path):
    image = next((release / "images").rglob("*.jpg"))
    writable(image).write_bytes(image.read_bytes()[:-1] + b"\x00")
    with pytest.raises(UserError, match="differ from its checksums .* nothing is exported"):
        pull(release, "train", tmp_path / "out", "parquet")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_image_paths_cannot_leave_the_release_even_with_matching_checksums(release, tmp_path):
    """A release rewritten consistently (checksums recomputed) still cannot make pull read or write
    outside: every image path must lie in the release's images/ folder."""
    split = writable(release / "test.parquet")
    table = pq.read_table(split)
    escaping = ["../../../../../../etc/hostname"] * table.num_rows
    table = table.set_column(table.schema.get_field_index("image"), "image", pa.array(escaping))
    pq.write_table(table, split)
    for name in (CHECKSUMS, "SHA256SUMS.sha256"):
        writable(release / name)
    _write_checksums(release)
    assert verify_release(release)[1] == []
    with pytest.raises(UserError, match="row 0: image '../../.*' lies outside the release"):
        load_split(release, "test")
    with pytest.raises(UserError, match="lies outside the release"):
        pull(release, "test", tmp_path / "out", "msmt")


@pytest.mark.parametrize("where", ["release", "workspace"])
def test_pull_into_a_release_or_a_workspace_or_onto_a_file_is_refused(release, tmp_path, where):
    inside = release / "pulled" if where == "release" else release.parent.parent / "exports"
    with pytest.raises(UserError, match=f"lies inside the {where}"):
        pull(release, "train", inside, "parquet")
    (tmp_path / "a-file").write_text("")
    with pytest.raises(UserError, match="is a file; give a folder"):
        pull(release, "train", tmp_path / "a-file", "parquet")


def _crlf(release: Path) -> None:
    listing = writable(release / CHECKSUMS)
    listing.write_bytes(listing.read_bytes().replace(b"\n", b"\r\n"))


def _one_space(release: Path) -> None:
    listing = writable(release / CHECKSUMS)
    lines = listing.read_text().splitlines(keepends=True)
    listing.write_text("".join([lines[0].replace("  ", " ", 1), *lines[1:]]))


def _crop_and_its_line(release: Path) -> None:
    image = next((release / "images").rglob("*.jpg"))
    name = image.relative_to(release).as_posix()
    image.unlink()
    listing = writable(release / CHECKSUMS)
    listing.write_text(
        "".join(line for line in listing.read_text().splitlines(True) if name not in line)
    )


def _symlink(release: Path) -> None:
    (release / "images" / "extra.jpg").symlink_to(next((release / "images").rglob("*.jpg")))


def _outside_entry(release: Path) -> None:
    outside = release.parent / "outside.txt"
    outside.write_text("x")
    listing = writable(release / CHECKSUMS)
    digest = hashlib.sha256(b"x").hexdigest()
    listing.write_text(listing.read_text() + f"{digest}  ../outside.txt\n")


@pytest.mark.parametrize(
    "tamper,expected",
    [
        (_crlf, "malformed line"),
        (_one_space, "SHA256SUMS:1: malformed line"),
        (_crop_and_its_line, "SHA256SUMS.sha256 (lines changed)"),
        (_symlink, "images/extra.jpg: not part of the release (added later) (a symbolic link)"),
        (_outside_entry, "'../outside.txt' is not a plain relative path inside the release"),
    ],
    ids=["crlf", "one-space", "crop-and-its-line", "symlink", "outside-entry"],
)
def test_verify_is_not_fooled(release, tamper, expected):
    assert verify_release(release)[1] == []
    tamper(release)
    _, problems = verify_release(release)
    assert any(expected in problem for problem in problems), problems


def test_the_file_count_catches_a_crop_removed_with_its_line_and_a_recomputed_digest(release):
    _crop_and_its_line(release)
    digest = writable(release / "SHA256SUMS.sha256")
    digest.write_text(
        f"{hashlib.sha256((release / CHECKSUMS).read_bytes()).hexdigest()}  {CHECKSUMS}\n"
    )
    _, problems = verify_release(release)
    assert any(
        f"{META} recorded" in p and "removed together with their lines" in p for p in problems
    ), problems


def _pull_and_die(release: Path, to: Path, spec: str) -> None:
    os.environ[KILL_ENV] = spec
    pull(release, "test", to, "market1501")


def test_a_killed_pull_is_finished_by_the_next_one(release, tmp_path):
    process = multiprocessing.get_context("spawn").Process(
        target=_pull_and_die, args=(release, tmp_path / "out", f"{tmp_path}:test:pull.moved.1")
    )
    process.start()
    process.join(120)
    assert process.exitcode == -signal.SIGKILL
    out = tmp_path / "out"  # outputs move in order: bounding_box_test, query, test.parquet
    assert (out / "bounding_box_test").is_dir() and not (out / "query").exists()
    summary = pull(release, "test", tmp_path / "out", "market1501")
    pull(release, "test", tmp_path / "clean", "market1501")
    assert digests(tmp_path / "out") == digests(tmp_path / "clean") and summary.images > 0


def test_release_create_names_missing_or_changed_crops_and_the_fix(pristine, tmp_path):
    workspace = tmp_path / "ws"
    shutil.copytree(pristine, workspace, symlinks=True)
    shutil.rmtree(workspace / "releases")
    split = next((workspace / "manifests" / "crops").glob("*.parquet"))
    table = pq.read_table(split)
    first = workspace / table.column("crop_path")[0].as_py()
    recorded = hashlib.sha256(first.read_bytes()).hexdigest()  # as the anonymize stage records it
    hashes = [recorded] + [None] * (table.num_rows - 1)
    index = table.schema.get_field_index("crop_sha256")
    pq.write_table(table.set_column(index, "crop_sha256", pa.array(hashes, pa.string())), split)

    first.chmod(0o644)
    first.write_bytes(first.read_bytes() + b"\x00")  # changed on disk after the pipeline wrote it
    with pytest.raises(UserError, match="1 crop\\(s\\) differ from the bytes the pipeline wrote"):
        create_release(workspace, "v1")
    first.unlink()
    with pytest.raises(
        UserError, match="1 crop\\(s\\) listed in the split manifest are not on disk"
    ):
        create_release(workspace, "v1")
    assert not (workspace / "releases" / "v1").exists()
