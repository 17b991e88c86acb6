"""Label versions: an annotators' file checked against the workspace and stored as an immutable,
complete snapshot ``WORKSPACE/labels/vNNNN/`` (the file's locations get the file's labels, other
locations keep those of the previous version)."""

from __future__ import annotations

import csv
import getpass
import io
import json
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from cyclist_dataset._version import __version__
from cyclist_dataset.core import schemas
from cyclist_dataset.dataset.labels.package import TEMPLATE_COLUMNS
from cyclist_dataset.dataset.labels.tracklets import read_crops, tracklet_table
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import atomic_dir, remove_stale_partials
from cyclist_dataset.io.hashing import sha256_bytes
from cyclist_dataset.io.workspace import Workspace

LABELS_DIR = "labels"
VERSION_RE = re.compile(r"^v(\d{4,})$")
IDENTITY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_ERRORS_SHOWN = 50


@dataclass(frozen=True)
class LabelVersion:
    name: str  # "v0001"
    path: Path

    @cached_property
    def meta(self) -> dict:
        return json.loads((self.path / "meta.json").read_text(encoding="utf-8"))

    @property
    def labels(self) -> pd.DataFrame:
        return pd.read_parquet(self.path / "labels.parquet")


def list_versions(root: Path) -> list[LabelVersion]:
    """Every label version of a workspace, oldest first."""
    folder = Path(root) / LABELS_DIR
    found = (
        [p for p in folder.iterdir() if p.is_dir() and VERSION_RE.match(p.name)]
        if folder.is_dir()
        else []
    )
    return [LabelVersion(p.name, p) for p in sorted(found, key=lambda p: int(p.name[1:]))]


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


# ---------------------------------------------------------------- import


@dataclass(frozen=True)
class _Entry:
    line: int
    where: str  # how a message names the entry: "line 7" or "line 7 (labels[2])"
    location: str | None
    camera: str | None
    tracklet_id: str
    identity: str | None


def import_labels(
    root: Path, file: Path, by: str | None = None, overlapping_views: bool = False
) -> LabelVersion:
    """Validate a filled label file (CSV, or JSON) and store it as the workspace's next label
    version.

    Any problem rejects the whole file (UserError listing every problem with its line); nothing is
    written then. ``overlapping_views``: the location's cameras watch the same place, so one person
    may be at two cameras at once (otherwise that is an error).
    """
    root, file = Path(root), Path(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserError(f"{file}: cannot read the label file: {exc.strerror}") from None
    entries, errors = (_parse_json if file.suffix.lower() == ".json" else _parse_csv)(
        data, file.name
    )
    crops = read_crops(root)
    tracklets = tracklet_table(crops)
    errors += _check(entries, tracklets, overlapping_views)
    labelled = [e for e in entries if e.identity]
    if not errors and not labelled:
        errors = [(0, f"{file.name}: no row has an identity; fill the `identity` column first")]
    if errors:
        errors.sort(key=lambda item: item[0])
        shown = [message for _, message in errors[:MAX_ERRORS_SHOWN]]
        more = len(errors) - len(shown)
        raise UserError(
            f"{file}: rejected, nothing was imported ({len(errors)} problem(s)):\n  "
            + "\n  ".join(shown)
            + (f"\n  ... and {more} more" if more > 0 else "")
        )

    workspace = Workspace(root)
    folder = root / LABELS_DIR
    with workspace.locked():
        remove_stale_partials(folder)
        previous = get_version(root, None)
        name = f"v{(int(previous.name[1:]) if previous else 0) + 1:04d}"
        replaced = sorted({str(tracklets.at[e.tracklet_id, "location"]) for e in entries})
        rows = [
            {
                "location": tracklets.at[e.tracklet_id, "location"],
                "camera": tracklets.at[e.tracklet_id, "camera"],
                "tracklet_id": e.tracklet_id,
                "identity": e.identity,
                "tracklet_fingerprint": tracklets.at[e.tracklet_id, "fingerprint"],
                "label_version": name,
                "source_line": e.line,
            }
            for e in labelled
        ]
        frame = pd.DataFrame(rows, columns=schemas.LABELS.names)
        if previous is not None:  # a snapshot: keep the other locations' labels
            kept = previous.labels
            frame = pd.concat([kept[~kept["location"].isin(replaced)], frame], ignore_index=True)
        frame = frame.sort_values(["location", "identity", "camera", "tracklet_id"]).reset_index(
            drop=True
        )
        validation = tracklets[tracklets["split"] == "validation"]
        meta = {
            "version": name,
            "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "created_by": by or getpass.getuser(),
            "source_file": str(file.resolve()),
            "source_sha256": sha256_bytes(data),
            "format": "json" if file.suffix.lower() == ".json" else "csv",
            "locations_replaced": replaced,
            "previous_version": previous.name if previous else None,
            "overlapping_views": overlapping_views,
            "labelled_tracklets": len(frame),
            "identities": int(frame.groupby(["location", "identity"]).ngroups) if len(frame) else 0,
            "unlabelled_validation_tracklets": int(
                (~validation.index.isin(frame["tracklet_id"])).sum()
            ),
            "tool_version": __version__,
        }
        with atomic_dir(folder / name) as tmp:
            pq.write_table(schemas.from_pandas(schemas.LABELS, frame), tmp / "labels.parquet")
            (tmp / f"source{file.suffix.lower() or '.csv'}").write_bytes(data)
            (tmp / "meta.json").write_text(
                json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8"
            )
            for path in tmp.iterdir():
                path.chmod(0o444)  # versions are immutable
    return LabelVersion(name, folder / name)


def _parse_csv(data: bytes, name: str) -> tuple[list[_Entry], list[tuple[int, str]]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [(0, f"{name}: not UTF-8 text (byte {exc.start}); save the file as UTF-8 CSV")]
    reader = csv.reader(io.StringIO(text, newline=""))
    header: list[str] | None = None
    entries: list[_Entry] = []
    errors: list[tuple[int, str]] = []
    last = 0
    try:
        for record in reader:
            line, last = last + 1, reader.line_num
            if not any(cell.strip() for cell in record) or record[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [cell.strip().lower() for cell in record]
                missing = [c for c in ("tracklet_id", "identity") if c not in header]
                if missing:
                    return [], [
                        (
                            line,
                            f"{name}:{line}: the header has no column {', '.join(missing)}; "
                            "start from the exported labels.csv "
                            f"(columns {', '.join(TEMPLATE_COLUMNS)})",
                        )
                    ]
                continue
            if len(record) > len(header):
                errors.append(
                    (
                        line,
                        f"{name}:{line}: {len(record)} fields, the header has {len(header)}; "
                        "quote values that contain commas",
                    )
                )
                continue
            values = dict(zip(header, (cell.strip() for cell in record), strict=False))
            entries.append(_entry(values, line, f"{name}:{line}", errors))
    except csv.Error as exc:
        errors.append((reader.line_num, f"{name}:{reader.line_num}: not valid CSV: {exc}"))
    if header is None:
        errors.append((0, f"{name}: empty file; start from the exported labels.csv"))
    return entries, errors


def _parse_json(data: bytes, name: str) -> tuple[list[_Entry], list[tuple[int, str]]]:
    """``[{"tracklet_id": ..., "identity": ...}, ...]`` or ``{"labels": [...]}``; optional location,
    camera."""
    try:
        text = data.decode("utf-8-sig")
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        return [], [(getattr(exc, "lineno", 0), f"{name}{where}: not valid JSON: {exc}")]
    items = document.get("labels") if isinstance(document, dict) else document
    if not isinstance(items, list):
        return [], [(1, f'{name}:1: expected a list of labels or {{"labels": [...]}}')]
    lines = _json_item_lines(text, document)
    entries, errors = [], []
    for index, item in enumerate(items):
        line = lines[index] if index < len(lines) else 0
        where = f"{name}:{line} (labels[{index}])"
        if not isinstance(item, dict):
            errors.append((line, f"{where}: expected an object with tracklet_id and identity"))
            continue
        values = {k: ("" if v is None else str(v).strip()) for k, v in item.items()}
        entries.append(_entry(values, line, where, errors))
    return entries, errors


def _json_item_lines(text: str, document: object) -> list[int]:
    """The line where each entry of the label list starts (json itself does not say)."""
    if isinstance(document, dict):
        match = re.search(r'"labels"\s*:\s*\[', text)
        position = match.end() if match else len(text)
    else:
        position = text.index("[") + 1
    decoder, lines = json.JSONDecoder(), []
    while position < len(text):
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            break
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)
    return lines


def _exported_column_problems(values: dict[str, str]) -> list[str]:
    """The columns the export writes for the annotators' eyes (start, end, n_crops,
    representative_crop) are optional, but when present they must be what the export wrote."""
    problems = []
    for column in ("start", "end"):
        value = str(values.get(column) or "")
        if value:
            try:
                parsed = datetime.fromisoformat(value)
            except ValueError:
                parsed = None
            if parsed is None or parsed.tzinfo is None:
                problems.append(
                    f"{column} {value!r} is not a time with its UTC offset "
                    "(as exported, e.g. 2020-02-20T13:11:05.250+01:00)"
                )
    n_crops = str(values.get("n_crops") or "")
    if n_crops and not (n_crops.isdigit() and int(n_crops) > 0):
        problems.append(f"n_crops {n_crops!r} is not a positive whole number")
    crop = str(values.get("representative_crop") or "")
    if crop and not re.fullmatch(r"crops/[A-Za-z0-9][A-Za-z0-9_.-]*\.(jpg|png)", crop):
        problems.append(
            f"representative_crop {crop!r} is not a crop of the package (crops/NAME.jpg)"
        )
    return problems


def _entry(values: dict[str, str], line: int, where: str, errors: list[tuple[int, str]]) -> _Entry:
    identity = values.get("identity", "") or None
    tracklet_id = values.get("tracklet_id", "")
    if not tracklet_id:
        errors.append(
            (line, f"{where}: tracklet_id is empty; every row needs the tracklet it labels")
        )
    if identity is not None and not IDENTITY_RE.match(identity):
        errors.append(
            (
                line,
                f"{where}: identity {identity!r} is malformed; use letters, digits, _ . - "
                "(starting with a letter or digit)",
            )
        )
    errors.extend((line, f"{where}: {problem}") for problem in _exported_column_problems(values))
    return _Entry(
        line,
        where,
        values.get("location") or None,
        values.get("camera") or None,
        tracklet_id,
        identity,
    )


def _check(
    entries: list[_Entry], tracklets: pd.DataFrame, overlapping_views: bool
) -> list[tuple[int, str]]:
    """Every problem of a parsed label file against the workspace's tracklets, with its line."""
    errors, valid = _check_rows(entries, tracklets)
    by_identity: dict[str, list[_Entry]] = defaultdict(list)
    for e in valid:
        if e.identity:
            by_identity[e.identity].append(e)
    for identity, members in by_identity.items():
        errors.extend(_location_errors(identity, members, tracklets))
        # Two cameras at overlapping times: impossible unless their views overlap. (One camera at
        # overlapping times is allowed: the tracker can briefly follow one person twice, as it does
        # on the multicam_lab footage, where cam2's tracklets t0004 and t0006 overlap by 0.5 s.)
        if not overlapping_views:
            errors.extend(_overlap_errors(identity, members, tracklets))
    return errors


def _check_rows(
    entries: list[_Entry], tracklets: pd.DataFrame
) -> tuple[list[tuple[int, str]], list[_Entry]]:
    """The problems of each row on its own (unknown or non-validation tracklet, edited exported
    columns, a tracklet listed twice), in row order, and the rows that have none."""
    errors: list[tuple[int, str]] = []
    seen: dict[str, _Entry] = {}
    valid: list[_Entry] = []
    for e in entries:
        if not e.tracklet_id:
            continue  # reported by the parser
        if e.tracklet_id not in tracklets.index:
            errors.append(
                (
                    e.line,
                    f"{e.where}: unknown tracklet {e.tracklet_id!r} (not in this workspace's split "
                    "manifest); copy ids from the exported labels.csv",
                )
            )
            continue
        info = tracklets.loc[e.tracklet_id]
        if info["split"] != "validation":
            errors.append(
                (
                    e.line,
                    f"{e.where}: tracklet {e.tracklet_id!r} is in the {info['split']} part, not "
                    "validation; only validation tracklets are labelled",
                )
            )
            continue
        wrong = [
            (field, given, info[field])
            for field, given in (("location", e.location), ("camera", e.camera))
            if given is not None and given != info[field]
        ]
        for field, given, actual in wrong:
            errors.append(
                (
                    e.line,
                    f"{e.where}: {field} {given!r} does not match tracklet {e.tracklet_id!r} "
                    f"({field} {actual!r}); do not edit the exported columns",
                )
            )
        if e.tracklet_id in seen:
            errors.append(_duplicate_error(e, seen[e.tracklet_id]))
            continue
        seen[e.tracklet_id] = e
        if not wrong:
            valid.append(e)
    return errors, valid


def _duplicate_error(e: _Entry, first: _Entry) -> tuple[int, str]:
    """The problem of a row whose tracklet an earlier row (``first``) already listed."""
    if first.identity and e.identity and first.identity != e.identity:
        return (
            e.line,
            f"{e.where}: tracklet {e.tracklet_id!r} is given two identities: "
            f"{first.identity!r} (line {first.line}) and {e.identity!r}; keep one row",
        )
    return (
        e.line,
        f"{e.where}: tracklet {e.tracklet_id!r} is listed twice (first at line "
        f"{first.line}); keep one row",
    )


def _location_errors(
    identity: str, members: list[_Entry], tracklets: pd.DataFrame
) -> list[tuple[int, str]]:
    """One identity's rows at a location other than its first row's."""
    errors: list[tuple[int, str]] = []
    locations: dict[str, _Entry] = {}
    for e in members:
        location = tracklets.at[e.tracklet_id, "location"]
        if locations and location not in locations:
            first_location, first = next(iter(locations.items()))
            errors.append(
                (
                    e.line,
                    f"{e.where}: identity {identity!r} is at location {location!r} and at "
                    f"{first_location!r} (line {first.line}); one identity is one person at "
                    "one location: use another name",
                )
            )
        locations.setdefault(location, e)
    return errors


def _overlap_errors(
    identity: str, members: list[_Entry], tracklets: pd.DataFrame
) -> list[tuple[int, str]]:
    """One identity's pairs of rows at two cameras of a location at overlapping times."""
    errors: list[tuple[int, str]] = []
    for i, a in enumerate(members):
        for b in members[:i]:
            ta, tb = tracklets.loc[a.tracklet_id], tracklets.loc[b.tracklet_id]
            if (
                ta["location"] != tb["location"]
                or ta["camera"] == tb["camera"]
                or not (ta["start"] <= tb["end"] and tb["start"] <= ta["end"])
            ):
                continue
            errors.append(
                (
                    a.line,
                    f"{a.where}: identity {identity!r} is at {ta['camera']} ({a.tracklet_id}) "
                    f"and at {tb['camera']} ({b.tracklet_id}, line {b.line}) at overlapping "
                    "times; one person cannot be at two cameras at once (if these cameras "
                    "watch the same place, import with --overlapping-views)",
                )
            )
    return errors
