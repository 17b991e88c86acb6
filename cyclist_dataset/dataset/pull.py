"""Export one split of a release in the layout a training codebase expects.

- ``parquet``: ``DIR/<split>.parquet`` and the images under ``DIR/<split>/``, with the release's
  own pids (test: 1..M labelled, 0 = distractor; junk and unsure tracklets are left out).
- ``market1501``: Market-1501's folders and names, as torchreid's ``Market1501`` reads them:
  train -> ``bounding_box_train/``, query -> ``query/``, gallery -> ``bounding_box_test/``
  (test -> both query and gallery). Names ``{pid:04d}_c{cam}s{seq}_{frame:06d}_{n:02d}.jpg``:
  torchreid parses ``([-\\d]+)_c(\\d)`` and asserts ``0 <= pid <= 1501`` and ``1 <= camid <= 6``,
  so a release with more than 6 cameras or a split with more than 1501 identities is refused (use
  ``msmt``). Distractors (unlabelled test tracklets) are Market's ``0000``, which torchreid keeps
  in the gallery and leaves out of ``combineall`` training; train pids are written as pid + 1 so
  that none is 0. Market's junk (``-1``, ignored by evaluation) is never written: junk and unsure
  tracklets are left out of a release's test data altogether, which is what ``-1`` achieves.
- ``msmt``: MSMT17's list files, as torchreid's ``MSMT17`` reads them (no limits on cameras or
  identities): ``train/`` + ``list_train.txt`` (+ an empty ``list_val.txt``), ``test/`` +
  ``list_query.txt`` and ``list_gallery.txt``; lines ``<pid>/<file> <pid>``, the camera (1-based) is
  the third ``_`` field of the file name. MSMT17 has no distractor label: each distractor tracklet
  is an identity of its own, numbered after the labelled ones (``msmt_pids``), in the gallery only;
  the export's ``<split>.parquet`` keeps the release's pid (0); file names and lists the new one.

Every export also writes ``DIR/<split>.parquet``: the split's rows with ``image`` pointing at the
exported file (relative to DIR), so each exported name traces back to its crop. Existing files and
folders are never overwritten: pull different splits into one DIR to assemble a full layout.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from cyclist_dataset.core import schemas
from cyclist_dataset.dataset.reader import (
    CHECKSUMS,
    EMPTY_SPLIT_CAUSES,
    META,
    SPLITS,
    load_split,
    release_meta,
    unaudited_release_message,
    verify_release,
)
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import PARTIAL_SUFFIX, publish, write_text
from cyclist_dataset.io.faults import kill_point
from cyclist_dataset.io.workspace import Workspace

FORMATS = ("parquet", "market1501", "msmt")
# Written beside an export of an unaudited release (one per split: splits can share a folder).
UNAUDITED_MARK = "{split}.UNAUDITED_RELEASE.txt"
# torchreid's Market1501.process_dir: `assert 0 <= pid <= 1501` and `assert 1 <= camid <= 6`.
MARKET_MAX_PID = 1501
MARKET_MAX_CAMERAS = 6
# Per pulled split: the release splits it is made of, and the folder each goes to. (The test split
# is its query and gallery parts, which both layouts keep apart.)
_FOLDERS = {
    "market1501": {
        "train": {"train": "bounding_box_train"},
        "query": {"query": "query"},
        "gallery": {"gallery": "bounding_box_test"},
        "test": {"query": "query", "gallery": "bounding_box_test"},
    },
    "msmt": {
        "train": {"train": "train"},
        "query": {"query": "test"},
        "gallery": {"gallery": "test"},
        "test": {"query": "test", "gallery": "test"},
    },
}
_MSMT_LISTS = {"train": "list_train.txt", "query": "list_query.txt", "gallery": "list_gallery.txt"}


# Where torchreid looks for each layout under its ``root`` (torchreid's Market1501.dataset_dir +
# its data_dir; MSMT17.dataset_dir + its VERSION_DICT key).
TORCHREID_NESTING = {
    "market1501": ("market1501/Market-1501-v15.09.15", "market1501"),
    "msmt": ("msmt17/MSMT17_V1", "msmt17"),
}


def torchreid_hint(to: Path, fmt: str) -> str | None:
    """How torchreid reads an export in ``to``: the ``root`` to give it, or where to put ``to``."""
    if fmt not in TORCHREID_NESTING:
        return None
    nesting, source = TORCHREID_NESTING[fmt]
    resolved = to.resolve()
    depth = nesting.count("/") + 1
    if resolved.as_posix().endswith("/" + nesting):
        root = resolved.parents[depth - 1]
        return (
            f"torchreid: ImageDataManager(root={str(root)!r}, sources={source!r}) reads this "
            "export once train and test are both pulled here"
        )
    return (
        f"torchreid reads this layout from ROOT/{nesting}/ (then ImageDataManager(root=ROOT, "
        f"sources={source!r})): pull with --to ROOT/{nesting}, or move {to} there"
    )


@dataclass(frozen=True)
class PullSummary:
    split: str
    format: str
    to: Path
    images: int
    written: tuple[str, ...]  # files and folders created in ``to``


def pull(release_dir: Path, split: str, to: Path, fmt: str = "parquet") -> PullSummary:
    """Export ``split`` of the release at ``release_dir`` into ``to`` in format ``fmt``.

    The release is verified first (a changed release is refused), every path stays inside the
    release and ``to``, and the exported images are independent copies: editing one never changes
    the release or the workspace. The export is built in a hidden folder of ``to`` and moved into
    place at the end; a pull killed while moving is finished by the next identical pull.
    """
    release_dir, to = Path(release_dir), Path(to)
    meta = _check_request(release_dir, split, to, fmt)
    layout = {split: split} if fmt == "parquet" else _FOLDERS[fmt][split]
    lists = [_MSMT_LISTS[part] for part in layout] if fmt == "msmt" else []
    if fmt == "msmt" and split == "train":
        # torchreid's MSMT17 reads it too; we have no validation-for-training part
        lists.append("list_val.txt")
    warning = unaudited_release_message(meta, release_dir)
    # An export of an unaudited release carries the warning with it.
    marks = [UNAUDITED_MARK.format(split=split)] if warning is not None else []
    outputs = sorted(set(layout.values())) + lists + [f"{split}.parquet"] + marks
    staging = to / f".pull-{split}-{fmt}{PARTIAL_SUFFIX}"
    if _finished_staging(staging, release_dir):  # a pull killed while moving its outputs
        return _move_into_place(staging, to, outputs, split, fmt)
    shutil.rmtree(staging, ignore_errors=True)
    taken = [name for name in outputs if (to / name).exists()]
    if taken:  # checked before anything is written, so a refused pull leaves DIR as it was
        raise UserError(
            f"{to}: {', '.join(taken)} already exist(s); pull into another folder "
            "(nothing is overwritten)"
        )
    parts = {part: load_split(release_dir, part, allow_empty=True) for part in layout}
    if not any(len(frame) for frame in parts.values()):
        raise UserError(
            f"{release_dir}: the {split} split is empty, nothing to export. "
            + EMPTY_SPLIT_CAUSES[split]
        )
    if fmt == "market1501":
        _check_market(meta, parts, release_dir)
    names = export_names(release_dir, fmt)
    for frame in parts.values():
        frame["file"] = frame["image"].map(names)
    staging.mkdir(parents=True)
    for folder in sorted(set(layout.values())):
        for part in (p for p, f in layout.items() if f == folder):
            for source, file in zip(parts[part]["path"], parts[part]["file"], strict=True):
                target = staging / folder / file
                if not target.resolve().is_relative_to((staging / folder).resolve()):
                    raise UserError(f"{release_dir}: export name {file!r} would leave {to}")
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)  # a copy: editing it leaves the release alone
    for part, list_name in zip(layout, lists, strict=False):
        rows = parts[part]
        # the pid as exported: the folder of the file's name (msmt_pids)
        (staging / list_name).write_text(
            "".join(f"{file} {int(file.split('/')[0])}\n" for file in rows["file"]),
            encoding="utf-8",
        )
    if "list_val.txt" in lists:
        (staging / "list_val.txt").write_text("", encoding="utf-8")
    manifest = pd.concat(
        [frame.assign(image=layout[part] + "/" + frame["file"]) for part, frame in parts.items()],
        ignore_index=True,
    )
    pq.write_table(
        schemas.from_pandas(schemas.RELEASE_SPLIT, manifest), staging / f"{split}.parquet"
    )
    if warning is not None:
        (staging / marks[0]).write_text(warning + "\n", encoding="utf-8")
    done = {"images": len(manifest), "release": str(release_dir.resolve())}
    write_text(staging / _COMPLETE, json.dumps(done))
    return _move_into_place(staging, to, outputs, split, fmt)


def _check_request(release_dir: Path, split: str, to: Path, fmt: str) -> dict:
    """The release's metadata, once the request and the release itself are found sound."""
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; choose one of {', '.join(SPLITS)}")
    if fmt not in FORMATS:
        raise UserError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if to.exists() and not to.is_dir():
        raise UserError(f"--to {to} is a file; give a folder (new or existing) to export into")
    _refuse_tool_folder(to)
    meta = release_meta(release_dir)
    checked, problems = verify_release(release_dir)
    if problems:
        raise UserError(
            f"{release_dir}: {len(problems)} of its {checked} files differ from its checksums "
            f"(e.g. {problems[0]}); the release was changed after it was made, so nothing is "
            "exported. Pull from an intact copy (`cyclist-dataset release verify` lists all)"
        )
    return meta


_COMPLETE = ".complete"  # in a pull's staging folder: everything is written, only moves remain


def _finished_staging(staging: Path, release_dir: Path) -> bool:
    """Whether ``staging`` holds a complete export of this release, only waiting to be moved."""
    try:
        done = json.loads((staging / _COMPLETE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(done.get("release") == str(release_dir.resolve()))


def _move_into_place(
    staging: Path, to: Path, outputs: list[str], split: str, fmt: str
) -> PullSummary:
    images = json.loads((staging / _COMPLETE).read_text(encoding="utf-8"))["images"]
    for moved, name in enumerate(outputs, 1):
        if (staging / name).exists():
            publish(staging / name, to / name)
        kill_point(f"pull.moved.{moved}", split)
    shutil.rmtree(staging)
    return PullSummary(split, fmt, to, images, tuple(outputs))


def _refuse_tool_folder(to: Path) -> None:
    """Exports go outside releases (immutable) and workspaces (the tool's own files)."""
    for folder in (to.resolve(), *to.resolve().parents):
        if (folder / META).is_file() and (folder / CHECKSUMS).is_file():
            raise UserError(f"--to {to} lies inside the release {folder}; releases never change")
        if Workspace.is_workspace(folder):
            raise UserError(f"--to {to} lies inside the workspace {folder}; export somewhere else")


def _check_market(meta: dict, parts: dict[str, pd.DataFrame], release_dir: Path) -> None:
    cameras = len(meta["cameras"])
    if cameras > MARKET_MAX_CAMERAS:
        raise UserError(
            f"{release_dir}: {cameras} cameras, but Market-1501 names hold at most "
            f"{MARKET_MAX_CAMERAS} (torchreid reads one digit and asserts 1 <= camid <= 6); "
            "use --format msmt (MSMT17 list files), which has no such limit"
        )
    for part, frame in parts.items():
        top = int(frame["pid"].max()) + (1 if part == "train" else 0) if len(frame) else 0
        if top > MARKET_MAX_PID:
            raise UserError(
                f"{release_dir}: the {part} split has {top} identities, but torchreid's "
                f"Market-1501 reader asserts pid <= {MARKET_MAX_PID}; use --format msmt "
                "(MSMT17 list files)"
            )


def export_names(release_dir: Path, fmt: str) -> dict[str, str]:
    """The exported file name (relative to its folder) of every release image, for one format.

    Computed over the whole release so a crop has the same name whichever split is pulled.
    """
    train = load_split(release_dir, "train", allow_empty=True)
    test = load_split(release_dir, "test", allow_empty=True)
    if fmt == "parquet":
        return {
            image: image.removeprefix("images/")
            for image in pd.concat([train["image"], test["image"]])
        }
    every = pd.concat([train, test], ignore_index=True)
    # seq: the video's number within its camera (by start), Market's "s<n>"
    first = (
        every.groupby(["camid", "video_id"])["timestamp"]
        .min()
        .reset_index()
        .sort_values(["camid", "timestamp", "video_id"])
    )
    first["seq"] = first.groupby("camid").cumcount() + 1
    seq = {
        (c, v): s for c, v, s in zip(first["camid"], first["video_id"], first["seq"], strict=True)
    }
    names: dict[str, str] = {}
    # Market: train pids shifted so 0 stays "distractor".
    for part, offset in ((train, 1), (test, 0)):
        part = part.sort_values(["pid", "camid", "video_id", "frame_index", "image"])
        if fmt == "market1501":
            pids = part["pid"] + offset
            key = [pids, part["camid"], part["video_id"], part["frame_index"]]
            number = part.groupby(key).cumcount() + 1
            for image, pid, camid, video, frame, n in zip(
                part["image"],
                pids,
                part["camid"],
                part["video_id"],
                part["frame_index"],
                number,
                strict=True,
            ):
                # Always .jpg: torchreid's reader globs *.jpg (PIL reads PNG crops by content)
                names[image] = (
                    f"{pid:04d}_c{camid + 1}s{seq[(camid, video)]}_{frame:06d}_{n:02d}.jpg"
                )
        else:
            if offset == 0:
                part = part.assign(pid=msmt_pids(part)).sort_values(
                    ["pid", "camid", "video_id", "frame_index", "image"]
                )
            width = max(2, len(str(int(every["camid"].max()) + 1))) if len(every) else 2
            number = part.groupby("pid").cumcount()
            for image, pid, camid, frame, n in zip(
                part["image"], part["pid"], part["camid"], part["frame_index"], number, strict=True
            ):
                names[image] = (
                    f"{pid:04d}/{pid:04d}_{n:04d}_{camid + 1:0{width}d}_"
                    f"{frame:06d}{Path(image).suffix}"
                )
    return names


def msmt_pids(test: pd.DataFrame) -> pd.Series:
    """The test split's pids as the msmt export writes them. MSMT17 has no distractor label (and
    torchreid's MSMT17 reader no junk pids), so a shared pid 0 would make all distractors one
    person, and one training class under ``combineall``. Each distractor tracklet gets an identity
    of its own instead, numbered after the labelled ones: no query has it, so evaluation still
    treats it as a distractor, and as a training class it is what a train tracklet is."""
    distractor = test["pid"] == schemas.DISTRACTOR_PID
    first = int(test["pid"].max()) + 1 if len(test) else 1
    tracklets = sorted(test.loc[distractor, "tracklet_id"].unique())
    numbers = {tracklet: first + i for i, tracklet in enumerate(tracklets)}
    return test["pid"].where(~distractor, test["tracklet_id"].map(numbers)).astype("int64")
