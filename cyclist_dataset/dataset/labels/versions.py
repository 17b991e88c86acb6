"""Label versions: immutable, complete snapshots ``WORKSPACE/labels/vNNNN/`` of every label of a
workspace. A file import and the app's commit make them the same way (``commit_labels``): the new
labels are merged into the latest version (or replace its labels of their locations), the whole is
checked against the rules, and a version equal to the latest one is not made again."""

from __future__ import annotations

import getpass
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from cyclist_dataset._version import __version__
from cyclist_dataset.core import schemas
from cyclist_dataset.dataset.labels import rules
from cyclist_dataset.dataset.labels.location import location_settings
from cyclist_dataset.dataset.labels.tracklets import (
    read_crops,
    tracklet_fingerprints,
    tracklet_table,
)
from cyclist_dataset.dataset.labels.units import (
    JUNK,
    PERSON,
    TO_THE_END,
    UNIT,
    UNLABELLED,
    UNSURE,
    assign,
    display,
    empty_units,
    unit_keys,
)
from cyclist_dataset.dataset.labels.units import anchors as anchors_of
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import atomic_dir, remove_stale_partials
from cyclist_dataset.io.workspace import Workspace

LABELS_DIR = "labels"
VERSION_RE = re.compile(r"^v(\d{4,})$")
MAX_ERRORS_SHOWN = 50
# What makes two versions the same labels.
SAME = ["tracklet_id", "first_frame", "last_frame", "status", "identity", "fingerprint"]


@dataclass(frozen=True)
class LabelVersion:
    name: str  # "v0001"
    path: Path
    # False when a commit found nothing new and returned the latest version instead of a copy
    created: bool = field(default=True, compare=False)

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text(encoding="utf-8"))

    @property
    def labels(self) -> pd.DataFrame:
        frame = pd.read_parquet(self.path / "labels.parquet")
        return _upgrade(frame) if "status" not in frame.columns else frame

    @property
    def anchors(self) -> pd.DataFrame:
        path = self.path / "anchors.parquet"
        if not path.is_file():  # versions of 0.1 kept no boxes
            return schemas.LABEL_ANCHORS.empty_table().to_pandas()
        return pd.read_parquet(path)


def _upgrade(old: pd.DataFrame) -> pd.DataFrame:
    """A label table of 0.1 (whole tracklets, identities only) in today's columns."""
    n = len(old)
    return pd.DataFrame(
        {
            "location": old["location"],
            "camera": old["camera"],
            "video_id": [""] * n,
            "tracklet_id": old["tracklet_id"],
            "first_frame": [0] * n,
            "last_frame": [TO_THE_END] * n,  # the whole tracklet
            "start": pd.Series([pd.NaT] * n, dtype="datetime64[us, UTC]"),
            "end": pd.Series([pd.NaT] * n, dtype="datetime64[us, UTC]"),
            "n_crops": [0] * n,
            "status": [PERSON] * n,
            "identity": old["identity"],
            "fingerprint": old["tracklet_fingerprint"],
            "label_version": old["label_version"],
            "source": "line " + old["source_line"].astype(str),
        }
    )


def list_versions(root: Path) -> list[LabelVersion]:
    """Every label version of a workspace, oldest first."""
    folder = Path(root) / LABELS_DIR
    found = (
        [p for p in folder.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
        if folder.is_dir()
        else []
    )
    return [LabelVersion(p.name, p) for p in sorted(found, key=lambda p: version_number(p.name))]


def version_number(name: str) -> int:
    """The number of a label version's name ("v0012" -> 12)."""
    return int(name[1:])


def newest(names) -> str:
    """The latest of some label versions' names."""
    return max(names, key=version_number)


def get_version(root: Path, name: str | None) -> LabelVersion | None:
    """A label version by name ("v0002", "2"), the latest one for None; None when there is none at
    all."""
    versions = list_versions(root)
    if name is None:
        return versions[-1] if versions else None
    wanted = (
        f"v{int(name[1:] if name.startswith('v') else name):04d}"
        if re.fullmatch(r"v?\d+", name)
        else name
    )
    for version in versions:
        if version.name == wanted:
            return version
    raise UserError(
        f"{Path(root) / LABELS_DIR}: no label version {name!r}; versions: "
        f"{', '.join(v.name for v in versions) or 'none (import a label file first)'}"
    )


def stale_units(labels: pd.DataFrame, crops: pd.DataFrame) -> pd.DataFrame:
    """The labelled units that are no longer what was labelled (a rerun changed, renumbered or
    lengthened the tracklets): their fingerprint over today's validation crops differs, or their
    tracklet now has crops none of its units holds."""
    if labels.empty:
        return labels
    validation = crops[crops["split"] == "validation"]
    inside = assign(validation, labels[["tracklet_id", "first_frame", "last_frame"]])
    now = (
        tracklet_fingerprints(inside, unit_keys(inside)) if len(inside) else pd.Series(dtype=object)
    )
    changed = (
        unit_keys(labels).map(now).astype(object).fillna("").to_numpy()
        != labels["fingerprint"].to_numpy()
    )
    crops_now = validation[validation["tracklet_id"].isin(labels["tracklet_id"])]
    total = crops_now.groupby("tracklet_id").size()
    held = inside.groupby("tracklet_id").size().reindex(total.index, fill_value=0)
    grown = set(total.index[total > held])
    return labels[changed | labels["tracklet_id"].isin(grown).to_numpy()]


def labels_out_of_date(root: Path) -> str | None:
    """What to say when the latest label version no longer matches the workspace's tracklets
    (None: it does, or there is none)."""
    version = get_version(root, None)
    if version is None or not (Path(root) / "manifests" / "crops").is_dir():
        return None
    labels = version.labels
    stale = stale_units(labels, read_crops(root))
    if stale.empty:
        return None
    return (
        f"label version {version.name}: {len(stale)} of its {len(labels)} labels are on tracklets "
        "this run changed or renumbered. Carry them to the new tracklets (a new version, with a "
        f"report of what could not be carried): cyclist-dataset labels carry {root}  (the "
        "labelling app, cyclist-dataset annotate, carries them when it starts)"
    )


@dataclass(frozen=True)
class Changes:
    """New labels for a commit: ``units`` (``schemas.LABELS`` columns but the version's, plus
    ``where`` and ``line`` for messages) replace every label of their tracklets (``touched``, which
    may hold tracklets that now have no label); ``replace_locations`` drop every older label of
    those locations first."""

    units: pd.DataFrame
    anchors: pd.DataFrame
    touched: frozenset[str]
    replace_locations: frozenset[str] = frozenset()
    # Per touched tracklet, the label version its new labels were made against (None: it had no
    # label then). A tracklet labelled differently in a later version is a conflict: another
    # annotator, or another file, got there first. None: no check.
    as_of: dict[str, str | None] | None = None
    conflict_hint: str = ""  # what to do about a conflict, in the caller's words
    # tracklets checked again after a carry (their labels may be unchanged)
    reviewed: frozenset[str] = frozenset()


def commit_labels(
    root: Path,
    changes: Changes,
    crops: pd.DataFrame,
    *,
    title: str,
    by: str | None,
    source: dict,
    source_file: tuple[str, bytes] | None = None,
    overlapping_views: bool | None = None,
    extra: dict[str, str] | None = None,
) -> LabelVersion:
    """Merge ``changes`` into the latest version and keep the result as the next version, after
    checking every rule (``rules.problems``) on it; any problem raises a UserError listing them
    (``title`` opens the message) and nothing is written. Returns the latest version itself (with
    ``created`` False) when the result equals it. ``overlapping_views``: an override of the
    locations' setting (None: each location's own). ``extra``: more files for the version folder
    (name -> text)."""
    root = Path(root)
    workspace = Workspace(root)
    folder = root / LABELS_DIR
    with workspace.locked():
        remove_stale_partials(folder)
        previous = get_version(root, None)
        old = previous.labels if previous is not None else empty_units()
        dropped = old["location"].isin(changes.replace_locations) | old["tracklet_id"].isin(
            changes.touched
        )
        # Every label kept must still be on what was labelled: a version never holds stale ones.
        stale = stale_units(old[~dropped], crops)
        if len(stale):
            raise UserError(
                f"{title}: the latest label version {previous.name if previous else ''} has "
                f"{len(stale)} label(s) at {', '.join(sorted(set(stale['location'])))} made on "
                "tracklets a rerun has since changed (e.g. "
                f"{', '.join(stale['tracklet_id'][:3])}); carry them to today's tracklets "
                f"first: cyclist-dataset labels carry {root}"
            )
        kept = completed(old[~dropped], crops)
        parts = kept.groupby("tracklet_id")["first_frame"].transform("size")
        kept = kept.assign(
            where=kept["label_version"],
            unit=[
                display(r.tracklet_id, r.first_frame, r.last_frame, n == 1)
                for r, n in zip(kept.itertuples(), parts, strict=True)
            ],
            line=0,
        )
        merged = pd.concat([kept, changes.units], ignore_index=True)
        conflicts = _conflicts(old, changes)
        if conflicts:
            raise_problems(title, conflicts)
        overrides = recorded_overrides(previous)
        if overlapping_views is not None:
            for loc in set(changes.units["location"]) | changes.replace_locations:
                overrides[loc] = overlapping_views
        views = views_of(root, merged["location"].unique(), overrides)
        found = rules.problems(merged, views)
        if found:
            raise_problems(title, [p.message for p in found])
        merged = merged.drop(columns=["where", "line", "unit"], errors="ignore").sort_values(
            ["location", "camera", "tracklet_id", "first_frame"]
        )
        if previous is not None and same_labels(merged, old) and not changes.reviewed:
            return LabelVersion(previous.name, previous.path, created=False)

        name = f"v{(version_number(previous.name) if previous else 0) + 1:04d}"
        merged["label_version"] = merged["label_version"].fillna(name)
        old_anchors = previous.anchors if previous is not None else changes.anchors.iloc[:0]
        if previous is not None and old_anchors.empty and len(kept):  # a version of 0.1
            old_anchors = anchors_of(crops, kept)
        anchors = pd.concat(
            [old_anchors.merge(kept[UNIT], on=UNIT), changes.anchors], ignore_index=True
        )
        meta = _meta(root, name, merged, crops, previous, by, source) | {
            "overlapping_views_overrides": overrides,
            "reviewed": sorted(changes.reviewed),
        }
        with atomic_dir(folder / name) as tmp:
            pq.write_table(
                schemas.from_pandas(schemas.LABELS, merged.reset_index(drop=True)),
                tmp / "labels.parquet",
            )
            pq.write_table(
                schemas.from_pandas(schemas.LABEL_ANCHORS, anchors.reset_index(drop=True)),
                tmp / "anchors.parquet",
            )
            if source_file is not None:
                (tmp / f"source{Path(source_file[0]).suffix.lower() or '.csv'}").write_bytes(
                    source_file[1]
                )
            for name_, text in (extra or {}).items():
                (tmp / name_).write_text(text, encoding="utf-8")
            (tmp / "meta.json").write_text(
                json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            for path in tmp.iterdir():
                path.chmod(0o444)  # versions are immutable
    return LabelVersion(name, folder / name)


def completed(kept: pd.DataFrame, crops: pd.DataFrame) -> pd.DataFrame:
    """Labels of a version of 0.1 (whole tracklets, no video, frames or times) completed from
    today's crops, which still are what was labelled (else they are stale and refused)."""
    old = kept["video_id"] == ""
    if not old.any():
        return kept
    whole = tracklet_table(crops[crops["split"] == "validation"])
    filled = kept.copy()
    rows = filled.loc[old, "tracklet_id"]
    present = rows.isin(whole.index)
    index = rows[present].index
    for column in ("video_id", "start", "end", "n_crops", "first_frame", "last_frame"):
        filled.loc[index, column] = whole.loc[rows[present], column].to_numpy()
    return filled


def recorded_overrides(version: LabelVersion | None) -> dict[str, bool]:
    """The locations whose overlapping views a version's labels were checked with an override
    (``labels import --overlapping-views``): later commits check them the same way."""
    if version is None:
        return {}
    meta = version.meta
    found = dict(meta.get("overlapping_views_overrides", {}))
    if meta.get("overlapping_views") and "overlapping_views_overrides" not in meta:  # 0.1
        found.update({loc: True for loc in meta.get("locations_replaced", [])})
    return found


def views_of(root: Path, locations, overrides: dict[str, bool]) -> dict[str, bool]:
    """Per location, whether its cameras' views overlap: an override, else its pipeline file's
    setting as the last run recorded it."""
    return {
        loc: overrides.get(loc, location_settings(root, loc).overlapping_views) for loc in locations
    }


def _conflicts(old: pd.DataFrame, changes: Changes) -> list[str]:
    """Touched tracklets labelled differently in a version later than the one their new labels
    were made against."""
    if changes.as_of is None or old.empty:
        return []
    found = []
    for tracklet_id, as_of in sorted(changes.as_of.items()):
        rows = old[old["tracklet_id"] == tracklet_id]
        if rows.empty:
            continue
        current = newest(rows["label_version"])
        if as_of is not None and version_number(current) <= version_number(as_of):
            continue
        if same_labels(changes.units[changes.units["tracklet_id"] == tracklet_id], rows):
            continue
        found.append(
            f"{tracklet_id} was labelled again in {current} after these labels were made (on "
            f"{as_of or 'no label'}); {changes.conflict_hint}".rstrip("; ")
        )
    return found


def raise_problems(title: str, messages: list[str]) -> None:
    shown = messages[:MAX_ERRORS_SHOWN]
    more = len(messages) - len(shown)
    raise UserError(
        f"{title} ({len(messages)} problem(s)):\n  "
        + "\n  ".join(shown)
        + (f"\n  ... and {more} more" if more > 0 else "")
    )


def same_labels(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Whether two label tables hold the same units with the same labels on the same crops."""
    return _canonical(a) == _canonical(b)


def _canonical(frame: pd.DataFrame) -> list[tuple]:
    return sorted(
        tuple(None if pd.isna(v) else v for v in row) for row in frame[SAME].itertuples(index=False)
    )


def _meta(
    root: Path,
    name: str,
    merged: pd.DataFrame,
    crops: pd.DataFrame,
    previous: LabelVersion | None,
    by: str | None,
    source: dict,
) -> dict:
    people = merged[merged["status"] == PERSON]
    validation = crops[crops["split"] == "validation"]
    covered = assign(
        validation,
        merged[merged["status"] != UNLABELLED][["tracklet_id", "first_frame", "last_frame"]],
    )
    return {
        "version": name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "created_by": by or getpass.getuser(),
        **source,
        "previous_version": previous.name if previous else None,
        "labelled_tracklets": int(len(people)),
        "identities": int(people.groupby(["location", "identity"]).ngroups) if len(people) else 0,
        "junk": int((merged["status"] == JUNK).sum()),
        "unsure": int((merged["status"] == UNSURE).sum()),
        "split_tracklets": int((merged.groupby("tracklet_id").size() > 1).sum())
        if len(merged)
        else 0,
        "unlabelled_validation_tracklets": int(
            validation["tracklet_id"].nunique() - covered["tracklet_id"].nunique()
        ),
        "tool_version": __version__,
        "workspace": str(root),
    }
