"""Releases: immutable, versioned dataset folders that the ML team pulls from.

``create_release`` turns a workspace (its split manifest and one label version) into::

    WORKSPACE/releases/NAME/
      README.md                 the dataset card: statistics (thesis Tables III and IV), parameters,
                                models, labels
      release.json              the same, for programs
      train.parquet             one row per crop (schemas.RELEASE_SPLIT); pid = per-camera tracklet,
                                0..N-1
      test.parquet              the validation crops; pid = labelled cross-camera identity 1..M,
                                0 = distractor
      query.parquet             Market-1501 style: one crop per identity and camera (identities seen
                                by >= 2 cameras)
      gallery.parquet           test minus query
      images/<location>/<camera>/<tracklet>/<crop>.jpg    hard links to the workspace's crops
                                                          (copies across file systems)
      figures/tracklet_length.png, figures/crops_per_identity.png
      SHA256SUMS                every other file, `sha256sum -c` format

The folder is built under a temporary name and renamed when complete; an existing release is never
modified and a name is never reused. ``verify_release`` re-checks every checksum.
"""

from __future__ import annotations

import getpass
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from cyclist_dataset._version import __version__
from cyclist_dataset.core import schemas
from cyclist_dataset.core.empty_splits import empty_parts
from cyclist_dataset.dataset.card import dataset_card, write_figures
from cyclist_dataset.dataset.labels import (
    LabelVersion,
    get_version,
    read_crops,
    split_parameters,
    stale_units,
)
from cyclist_dataset.dataset.labels.units import EXCLUDED, PERSON, empty_units, label_crops
from cyclist_dataset.dataset.privacy import privacy_gate, privacy_summary, refused_crops
from cyclist_dataset.dataset.reader import (  # noqa: F401 (load_split, verify_release: re-exported)
    ALLOW_FLAG,
    CARD,
    CHECKSUMS,
    CHECKSUMS_DIGEST,
    META,
    SPLITS,
    UNAUDITED_WARNING,
    files_listed,
    list_releases,
    load_split,
    release_meta,
    releases_dir,
    verify_release,
)
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import atomic_dir, link_or_copy, remove_stale_partials
from cyclist_dataset.io.hashing import sha256_of
from cyclist_dataset.io.workspace import STAGE_OUTPUT, Workspace, read_params
from cyclist_dataset.stages.split import split_stats

# 2: SHA256SUMS.sha256 and release.json's `files` (the number of files SHA256SUMS lists)
# 3: gated on the privacy audit; release.json's `privacy` (dataset.privacy.privacy_summary)
FORMAT_VERSION = 3
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


# ---------------------------------------------------------------- building the splits


def image_path(crop_path: str) -> str:
    """Where a workspace crop (``crops/<location>/...``) lives in a release
    (``images/<location>/...``)."""
    return "images/" + crop_path.removeprefix("crops/")


def camera_index(crops: pd.DataFrame) -> pd.DataFrame:
    """The release's cameras, (location, camera) sorted, with their 0-based ``camid``."""
    pairs = crops[["location", "camera"]].drop_duplicates().sort_values(["location", "camera"])
    return pairs.reset_index(drop=True).rename_axis("camid").reset_index()


def build_splits(crops: pd.DataFrame, labels: pd.DataFrame | None) -> dict[str, pd.DataFrame]:
    """The four split tables (``schemas.RELEASE_SPLIT`` columns) from the split manifest and
    labels."""
    crops = crops.merge(camera_index(crops), on=["location", "camera"], how="left")
    crops["image"] = crops["crop_path"].map(image_path)

    train = crops[crops["split"] == "train"].copy()
    train["identity"] = train["tracklet_id"]
    train["pid"] = _rank(train["identity"], start=0)
    train["split"] = "train"

    # Each validation crop takes the label of the unit (tracklet, or part of a split one) that
    # holds it; junk and unsure units are left out of the test data.
    test = label_crops(
        crops[crops["split"] == "validation"], labels if labels is not None else empty_units()
    )
    test = test[~test["status"].isin(EXCLUDED)].copy()
    test["tracklet_id"] = test["unit_id"]
    person = (test["status"] == PERSON).to_numpy()
    test["identity"] = [
        f"{location}/{identity}" if is_person else None
        for location, identity, is_person in zip(
            test["location"], test["identity"], person, strict=True
        )
    ]
    labelled = test["identity"].notna()
    # Market-1501's "distractor": an unlabelled tracklet (open-world evaluation needs them)
    test["pid"] = schemas.DISTRACTOR_PID
    test.loc[labelled, "pid"] = _rank(test.loc[labelled, "identity"], start=1)
    test["split"] = "test"

    # Market-1501: one query per identity per camera, for identities another camera also saw.
    # The largest crop (the sharpest view) of that identity at that camera; ties by time, then path.
    seen = test[labelled].groupby("identity")["camid"].nunique()
    candidates = test[test["identity"].isin(seen[seen >= 2].index)]
    candidates = candidates.assign(
        area=(candidates["x2"] - candidates["x1"]) * (candidates["y2"] - candidates["y1"])
    )
    query = (
        candidates.sort_values(
            ["identity", "camid", "area", "timestamp", "crop_path"],
            ascending=[True, True, False, True, True],
        )
        .groupby(["identity", "camid"])
        .head(1)
        .drop(columns="area")
        .assign(split="query")
    )
    gallery = test[~test["crop_path"].isin(query["crop_path"])].assign(split="gallery")
    order = ["pid", "camid", "timestamp", "crop_path"]
    return {
        name: _typed(frame.sort_values(order))
        for name, frame in (
            ("train", train),
            ("test", test),
            ("query", query),
            ("gallery", gallery),
        )
    }


def _rank(values: pd.Series, start: int) -> pd.Series:
    """Contiguous integers over the sorted distinct values (deterministic pids)."""
    codes = {v: i + start for i, v in enumerate(sorted(values.unique()))}
    return values.map(codes).astype("int64")


def _typed(frame: pd.DataFrame) -> pd.DataFrame:
    return schemas.from_pandas(schemas.RELEASE_SPLIT, frame).to_pandas()


def check_labels(crops: pd.DataFrame, labels: pd.DataFrame, version: str, root: Path) -> None:
    """Labels must still describe the same validation tracklets (a rerun may have changed them)."""
    stale = stale_units(labels, crops)
    if len(stale):
        raise UserError(
            f"label version {version}: {len(stale)} label(s) are on tracklets that are no longer "
            f"what was labelled (e.g. {', '.join(stale['tracklet_id'][:5])}): the pipeline was "
            "rerun with other parameters. Carry the labels to today's tracklets (a new label "
            f"version, with a report of what could not be carried): cyclist-dataset labels carry "
            f"{root}"
        )


# ---------------------------------------------------------------- creating a release


def create_release(
    root: Path,
    name: str,
    labels: str | None = None,
    by: str | None = None,
    log=lambda line: None,
    allow_unaudited: bool = False,
) -> Path:
    """Build the release ``NAME`` of a workspace with a label version ("v0002", "2"; default: the
    latest, if any; "none": no labels, the test split is all distractors).

    Every crop must carry a passing verdict of the privacy audit as currently defined
    (``dataset.privacy``); ``allow_unaudited`` (research use) releases crops without one and
    marks the release unaudited in its metadata and card."""
    root = Path(root)
    if not re.match(NAME_PATTERN, name):
        raise UserError(
            f"release name {name!r}: use letters, digits, _ . - (e.g. v1.0 or 2020-06-cyclists)"
        )
    target = releases_dir(root) / name
    if target.exists():
        raise UserError(
            f"release {name!r} already exists ({target}); releases are immutable, choose a new name"
        )
    with Workspace(root).locked():
        remove_stale_partials(releases_dir(root))
        crops = read_crops(root)
        _check_crops_on_disk(root, crops)
        reason = privacy_gate(root, crops, allow_unaudited)
        if reason.notna().any():
            log(f"warning: {UNAUDITED_WARNING.format(flag=ALLOW_FLAG)}")
        privacy = privacy_summary(
            crops, reason, refused_crops(root, crops["video_id"].unique()), allow_unaudited
        )
        version = None if labels == "none" else get_version(root, labels)
        label_rows = version.labels if version is not None else None
        if version is not None and label_rows is not None:
            check_labels(crops, label_rows, version.name, root)
        splits = build_splits(crops, label_rows)
        empty = empty_parts(crops)
        for line in empty:
            log(line)
        with atomic_dir(target) as tmp:
            log(f"linking {len(crops)} crops")
            for crop_path in crops["crop_path"]:
                link_or_copy(root / crop_path, tmp / image_path(crop_path))
            for split, frame in splits.items():
                pq.write_table(
                    schemas.from_pandas(schemas.RELEASE_SPLIT, frame), tmp / f"{split}.parquet"
                )
            figures = write_figures(tmp, splits)
            meta = _metadata(root, name, version, splits, crops, by)
            meta["privacy"] = privacy
            meta["warnings"] = empty
            (tmp / CARD).write_text(
                dataset_card(meta, splits, _footage_hours(root), figures, CHECKSUMS),
                encoding="utf-8",
            )
            meta["files"] = len(files_listed(tmp)) + 1  # and release.json itself
            (tmp / META).write_text(
                json.dumps(meta, indent=2, sort_keys=True, default=str) + "\n", encoding="utf-8"
            )
            digests = _write_checksums(tmp)
            _check_release_images(crops, digests)
            _make_read_only(tmp)
    log(f"release {name}: {target}")
    return target


def _check_crops_on_disk(root: Path, crops: pd.DataFrame) -> None:
    missing = [p for p in crops["crop_path"] if not (root / p).is_file()]
    if missing:
        videos = sorted(crops.loc[crops["crop_path"].isin(missing), "video_id"].unique())
        raise UserError(
            f"{root}: {len(missing)} crop(s) listed in the split manifest are not on disk "
            f"(e.g. {missing[0]}), of the video(s) {', '.join(videos)}; run the pipeline again "
            "(`cyclist-dataset run PIPELINE`): it redoes the crops of those videos"
        )


def _check_release_images(crops: pd.DataFrame, digests: dict[str, str]) -> None:
    """Each released image holds the bytes its manifest row recorded when the crop was written."""
    if "crop_sha256" not in crops:
        return
    changed = [
        crop_path
        for crop_path, recorded in zip(crops["crop_path"], crops["crop_sha256"], strict=True)
        if isinstance(recorded, str) and digests[image_path(crop_path)] != recorded
    ]
    if changed:
        raise UserError(
            f"{len(changed)} crop(s) differ from the bytes the pipeline wrote (e.g. {changed[0]}); "
            "something changed them on disk. Run the pipeline again (`cyclist-dataset run "
            "PIPELINE`): it redoes the crops of those videos"
        )


def _make_read_only(folder: Path) -> None:
    """Release files: read-only for everyone, readable by everyone (released images are hard links
    to the workspace's crops, which the pipeline only ever replaces, never edits)."""
    for path in sorted(folder.rglob("*")):
        path.chmod(0o755 if path.is_dir() else 0o444)


def _footage_hours(root: Path) -> pd.Series:
    """Hours of footage per (location, camera), from the videos manifest."""
    folder = Workspace(root).manifest("videos")
    videos = (
        pd.read_parquet(folder, columns=["location", "camera", "duration_s"])
        if folder.is_dir()
        else pd.DataFrame(columns=["location", "camera", "duration_s"])
    )
    return videos.groupby(["location", "camera"])["duration_s"].sum() / 3600.0


def _stage_params(root: Path) -> dict[str, list[dict]]:
    """Each stage's distinct parameter sets over the workspace's videos (from the result files)."""
    result: dict[str, list[dict]] = {}
    for stage, folder in STAGE_OUTPUT.items():
        if stage == "ingest":
            continue  # per-video facts (source, start time), listed in the videos manifest
        seen: dict[str, dict] = {}
        for path in sorted((Path(root) / folder).glob("*.parquet")):
            stored = read_params(path)
            # The stage's config section and identities (model, file hashes, time zone); the
            # per-video counts that stages store beside them are not parameters.
            params = {k: v for k, v in stored.items() if k == stage or isinstance(v, str)}
            seen.setdefault(json.dumps(params, sort_keys=True), params)
        result[stage] = list(seen.values())
    return result


def _metadata(
    root: Path,
    name: str,
    version: LabelVersion | None,
    splits: dict[str, pd.DataFrame],
    crops: pd.DataFrame,
    by: str | None,
) -> dict:
    stats = split_stats(root)
    totals = (
        {
            k: int(stats[k].sum())
            for k in ("crops_in", "guard_band_crops", "guard_band_tracklets", "audit_refused_crops")
            if k in stats
        }
        if len(stats)
        else {}
    )
    return {
        "name": name,
        "format_version": FORMAT_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="microseconds"),  # also orders `list`
        "created_by": by or getpass.getuser(),
        "tool_version": __version__,
        "workspace": str(Path(root).resolve()),
        "labels": None if version is None else {"version": version.name, **version.meta},
        "cameras": camera_index(crops).to_dict(orient="records"),
        "counts": {
            split: {
                "images": len(frame),
                # pid 0 marks distractors (unlabelled test tracklets): not an identity
                "pids": int(frame["pid"].nunique())
                if split == "train"
                else int(frame.loc[frame["pid"] != schemas.DISTRACTOR_PID, "pid"].nunique()),
                "distractor_images": 0
                if split == "train"
                else int((frame["pid"] == schemas.DISTRACTOR_PID).sum()),
                "tracklets": int(frame["tracklet_id"].nunique()),
            }
            for split, frame in splits.items()
        },
        "validation_windows": _validation_windows(root),
        "split_stats": {
            "videos_recorded": len(stats),
            "videos": int(crops["video_id"].nunique()),
            **totals,
        },
        "pipeline": _stage_params(root),
        "models": sorted(crops["model"].unique().tolist()),
        # per location: what one location's crops record is never shown as another's
        "anonymization": {
            location: summarize_json(group["anonymization"])
            for location, group in crops.groupby("location", sort=True)
        },
    }


def _validation_windows(root: Path) -> dict[str, list[dict]]:
    """Per location, its distinct split parameters (validation window, guard band, time zone), from
    the split stage's results of its videos."""
    windows: dict[str, list[dict]] = {}
    for location, stored in split_parameters(root):
        window = {**stored.get("split", {}), "timezone": stored.get("timezone")}
        found = windows.setdefault(location, [])
        if window not in found:
            found.append(window)
    return dict(sorted(windows.items()))


def summarize_json(values: pd.Series) -> dict:
    """Distinct JSON objects (one per crop) folded into one: a key with several values (the blur
    window, scaled with each crop) becomes its range ({"min", "max"}) or its sorted values."""
    return _fold([json.loads(text) for text in sorted(values.unique())])


def _fold(objects: list[dict]) -> dict:
    summary = {}
    for key in sorted(set().union(*objects)):
        options: list = []
        for value in (o[key] for o in objects if key in o):
            if value not in options:
                options.append(value)
        if len(options) == 1:
            summary[key] = options[0]
        elif all(isinstance(v, dict) for v in options):
            summary[key] = _fold(options)
        elif all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in options):
            summary[key] = {"min": min(options), "max": max(options)}
        else:
            summary[key] = sorted(options, key=lambda v: json.dumps(v, sort_keys=True))
    return summary


# ---------------------------------------------------------------- checksums


def _write_checksums(folder: Path) -> dict[str, str]:
    digests = {name: sha256_of(folder / name) for name in files_listed(folder)}
    (folder / CHECKSUMS).write_text(
        "".join(f"{digest}  {name}\n" for name, digest in digests.items()), encoding="utf-8"
    )
    (folder / CHECKSUMS_DIGEST).write_text(
        f"{sha256_of(folder / CHECKSUMS)}  {CHECKSUMS}\n", encoding="utf-8"
    )
    return digests
