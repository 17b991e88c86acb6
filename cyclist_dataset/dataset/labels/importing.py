"""`labels import`: an annotators' file (CSV, or JSON) checked against the workspace and committed
as a label version (``versions.commit_labels``).

Each row labels a tracklet, or a part of one (``frames``: "first-last", after a split); its
``identity`` is a name, ``junk`` (not a person), ``unsure``, or empty (unlabelled). The rows of a
tracklet replace every earlier label of that tracklet; tracklets the file does not list keep their
labels, unless ``replace`` (then the file's locations get exactly the file's labels). The exported
columns (start, end, n_crops) say which tracklet the annotator saw: a row whose tracklet has since
changed is rejected, so a stale file never labels somebody else.
"""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cyclist_dataset.dataset.labels.tracklets import read_crops, tracklet_table
from cyclist_dataset.dataset.labels.units import (
    CLEARED,
    JUNK,
    PERSON,
    TO_THE_END,
    UNLABELLED,
    UNSURE,
    anchors,
    describe_spans,
    display,
    name_problem,
    uncovered,
)
from cyclist_dataset.dataset.labels.versions import (
    Changes,
    LabelVersion,
    commit_labels,
    get_version,
    list_versions,
    raise_problems,
    same_labels,
)
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.hashing import sha256_bytes

TEMPLATE_COLUMNS = (
    "location",
    "camera",
    "tracklet_id",
    "frames",
    "start",
    "end",
    "n_crops",
    "representative_crop",
    "identity",
)
# Reserved words of the identity column (any case): not names.
STATUS_WORDS = {JUNK: JUNK, UNSURE: UNSURE}
FRAMES_RE = re.compile(r"^(\d+)\s*-\s*(\d+)$")


@dataclass(frozen=True)
class _Entry:
    line: int
    where: str  # how a message names the entry: "labels.csv:7" or "labels.json:7 (labels[2])"
    location: str | None
    camera: str | None
    tracklet_id: str
    frames: tuple[int, int] | None  # a part of a split tracklet; None: the whole tracklet
    status: str  # person | junk | unsure | unlabelled
    identity: str | None
    exported: dict[str, str]  # start, end, n_crops as the file gives them


def import_labels(
    root: Path,
    file: Path,
    by: str | None = None,
    overlapping_views: bool | None = None,
    replace: bool = False,
) -> LabelVersion:
    """Check a filled label file against the workspace and merge it into the latest label version
    as the next one (``replace``: its locations get exactly its labels).

    Any problem rejects the whole file (UserError listing every problem with its line); nothing is
    written then. A file that changes nothing makes no version: the latest is returned, with
    ``created`` False. ``overlapping_views`` overrides the location's setting from the pipeline
    file (one person may be at two cameras at once).
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
    valid, row_errors = _check_rows(entries, tracklets)
    errors += row_errors
    units = _units(valid, crops) if valid else None
    if units is not None:
        errors += _stale_rows(valid, units.iloc[: len(valid)])  # the rows, before the gaps
    if not errors and not any(e.status != UNLABELLED for e in entries) and not list_versions(root):
        errors = [(0, f"{file.name}: no row has an identity; fill the `identity` column first")]
    title = f"{file}: rejected, nothing was imported"
    if errors:
        errors.sort(key=lambda item: item[0])
        raise_problems(title, [message for _, message in errors])
    assert units is not None
    said, base = _exported_from(data)
    if said and not replace:  # rows left as exported change nothing, nor undo later labels
        unchanged = _as_exported(units, root, base)
        units = units[~units["tracklet_id"].isin(unchanged)]
        valid = [e for e in valid if e.tracklet_id not in unchanged]
    labelled = units[units["status"] != CLEARED].reset_index(drop=True)
    touched = frozenset(e.tracklet_id for e in valid)
    changes = Changes(
        units=labelled,
        anchors=anchors(crops, labelled),
        touched=touched,
        as_of={t: base for t in touched} if said else None,
        conflict_hint="export the package again (the labels made since are filled in) and "
        "redo this row, or leave it out",
        replace_locations=frozenset(str(tracklets.at[e.tracklet_id, "location"]) for e in valid)
        if replace
        else frozenset(),
    )
    return commit_labels(
        root,
        changes,
        crops,
        title=title,
        by=by,
        source={
            "source_file": str(file.resolve()),
            "source_sha256": sha256_bytes(data),
            "format": "json" if file.suffix.lower() == ".json" else "csv",
            "replace": replace,
        },
        source_file=(file.name, data),
        overlapping_views=overlapping_views,
    )


def _exported_from(data: bytes) -> tuple[bool, str | None]:
    """Whether the file says which label version it was exported from (its labels.csv does, in a
    comment line: "# label version: v0003", or "none"), and which."""
    # a spreadsheet may quote the line and pad it with empty cells: "# label version: v0003",,,
    found = re.search(
        rb'^"?# label version: (v\d{4,}|none)"?[,;\t ]*\r?$', data[:4096], re.MULTILINE
    )
    if found is None:
        return False, None
    return True, None if found[1] == b"none" else found[1].decode()


def _as_exported(units: pd.DataFrame, root: Path, base: str | None) -> set[str]:
    """The tracklets whose rows the file gives exactly as the package's label version had them
    (no label, or the same parts and labels)."""
    version = get_version(root, base) if base is not None else None
    labels = version.labels if version is not None else units.iloc[:0]
    given = units[units["status"] != CLEARED]
    return {
        str(t)
        for t in units["tracklet_id"].unique()
        if same_labels(given[given["tracklet_id"] == t], labels[labels["tracklet_id"] == t])
    }


def _units(entries: list[_Entry], crops: pd.DataFrame) -> pd.DataFrame:
    """The label units of valid rows, described by today's crops. A whole tracklet left empty gets
    status CLEARED (it only clears earlier labels); the parts of a split tracklet are kept with
    their frames as given, and its crops no row names become unlabelled parts (the parts cover
    the tracklet)."""
    parts = {e.tracklet_id for e in entries if e.frames is not None}
    validation = crops[crops["split"] == "validation"]
    frames = {
        t: np.sort(g.to_numpy())
        for t, g in validation[validation["tracklet_id"].isin(parts)].groupby("tracklet_id")[
            "frame_index"
        ]
    }
    rows = [
        {
            "tracklet_id": e.tracklet_id,
            "first_frame": e.frames[0] if e.frames else 0,
            "last_frame": e.frames[1] if e.frames else TO_THE_END,
            "status": e.status if e.status != UNLABELLED or e.tracklet_id in parts else CLEARED,
            "identity": e.identity,
            "where": e.where,
            "line": e.line,
        }
        for e in entries
    ]
    for tracklet_id in sorted(parts):
        given = [
            (e.frames[0], e.frames[1]) for e in entries if e.tracklet_id == tracklet_id and e.frames
        ]
        rows += [
            {
                "tracklet_id": tracklet_id,
                "first_frame": first,
                "last_frame": last,
                "status": UNLABELLED,
                "identity": None,
                "where": f"{tracklet_id}: crops no row names",
                "line": 0,
            }
            for first, last, _ in uncovered(frames[tracklet_id], given)
        ]
    units = describe_spans(validation, pd.DataFrame(rows))
    # a whole tracklet: from its first to its last crop
    whole = units["first_frame"].eq(0) & units["last_frame"].eq(TO_THE_END)
    bounds = validation.groupby("tracklet_id")["frame_index"]
    units.loc[whole, "first_frame"] = units.loc[whole, "tracklet_id"].map(bounds.min())
    units.loc[whole, "last_frame"] = units.loc[whole, "tracklet_id"].map(bounds.max())
    units["label_version"] = None
    units["source"] = units["where"]
    units["unit"] = [
        display(r.tracklet_id, r.first_frame, r.last_frame, r.tracklet_id not in parts)
        for r in units.itertuples()
    ]
    return units


def _stale_rows(entries: list[_Entry], units: pd.DataFrame) -> list[tuple[int, str]]:
    """Rows whose exported start, end or crop count are not those of the tracklet (or part) today:
    the file was exported before a rerun changed that tracklet."""
    errors = []
    for e, unit in zip(entries, units.itertuples(), strict=True):
        said = e.exported
        if unit.n_crops == 0:
            errors.append((e.line, f"{e.where}: frames {e.frames} hold no crop of {e.tracklet_id}"))
            continue
        differs = []
        for column, now in (("start", unit.start), ("end", unit.end)):
            if said.get(column):
                given = pd.Timestamp(datetime.fromisoformat(said[column]))
                if abs((given - now).total_seconds()) > 0.0015:
                    differs.append(f"{column} {said[column]} (now {now.isoformat()})")
        if said.get("n_crops") and int(said["n_crops"]) != unit.n_crops:
            differs.append(f"n_crops {said['n_crops']} (now {unit.n_crops})")
        if differs:
            errors.append(
                (
                    e.line,
                    f"{e.where}: tracklet {e.tracklet_id} is no longer what was labelled: the file "
                    f"says {'; '.join(differs)}. The pipeline was rerun after this file was "
                    "exported: export the package again (the labels already imported are "
                    "filled in); labels already imported are carried by `labels carry`",
                )
            )
    return errors


def _check_rows(
    entries: list[_Entry], tracklets: pd.DataFrame
) -> tuple[list[_Entry], list[tuple[int, str]]]:
    """The rows that are fine on their own (a known validation tracklet, the exported columns
    unedited, no tracklet or frame listed twice), and the problems of the others, in row order."""
    errors: list[tuple[int, str]] = []
    seen: dict[str, list[_Entry]] = {}
    valid: list[_Entry] = []
    for e in entries:
        if not e.tracklet_id:
            continue  # reported by the parser
        if e.tracklet_id not in tracklets.index:
            errors.append(
                (
                    e.line,
                    f"{e.where}: unknown tracklet {e.tracklet_id!r} (not in this workspace's split "
                    "manifest); copy ids from the exported labels.csv, or, if the pipeline was "
                    "rerun since, export again",
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
            (name, given, info[name])
            for name, given in (("location", e.location), ("camera", e.camera))
            if given is not None and given != info[name]
        ]
        for name, given, actual in wrong:
            errors.append(
                (
                    e.line,
                    f"{e.where}: {name} {given!r} does not match tracklet {e.tracklet_id!r} "
                    f"({name} {actual!r}); do not edit the exported columns",
                )
            )
        clash = _clash(e, seen.get(e.tracklet_id, []))
        if clash:
            errors.append((e.line, clash))
            continue
        seen.setdefault(e.tracklet_id, []).append(e)
        if not wrong:
            valid.append(e)
    return valid, errors


def _clash(e: _Entry, earlier: list[_Entry]) -> str | None:
    """Why a row cannot stand beside the earlier rows of its tracklet (None: it can)."""
    for first in earlier:
        if e.frames is None or first.frames is None:
            if first.identity and e.identity and first.identity != e.identity:
                return (
                    f"{e.where}: tracklet {e.tracklet_id!r} is given two identities: "
                    f"{first.identity!r} (line {first.line}) and {e.identity!r}; keep one row, "
                    "or give each row the frames of its part"
                )
            return (
                f"{e.where}: tracklet {e.tracklet_id!r} is listed twice (first at line "
                f"{first.line}); keep one row, or give each row the frames of its part"
            )
        if e.frames[0] <= first.frames[1] and first.frames[0] <= e.frames[1]:
            return (
                f"{e.where}: frames {e.frames[0]}-{e.frames[1]} of {e.tracklet_id!r} overlap "
                f"frames {first.frames[0]}-{first.frames[1]} (line {first.line}); the parts of a "
                "split tracklet do not overlap"
            )
    return None


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
    """The columns the export writes for the annotators' eyes (frames, start, end, n_crops,
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
    if crop and not re.fullmatch(r"crops/[A-Za-z0-9][A-Za-z0-9_.@-]*\.(jpg|png)", crop):
        problems.append(
            f"representative_crop {crop!r} is not a crop of the package (crops/NAME.jpg)"
        )
    frames = str(values.get("frames") or "")
    match = FRAMES_RE.match(frames)
    if frames and not (match and int(match[1]) <= int(match[2])):
        problems.append(
            f"frames {frames!r} is not a range of frame numbers FIRST-LAST (e.g. 120-164): the "
            "part of a split tracklet; leave it empty for the whole tracklet"
        )
    return problems


def _entry(values: dict[str, str], line: int, where: str, errors: list[tuple[int, str]]) -> _Entry:
    identity = values.get("identity", "") or None
    tracklet_id = values.get("tracklet_id", "")
    if not tracklet_id:
        errors.append(
            (line, f"{where}: tracklet_id is empty; every row needs the tracklet it labels")
        )
    status = PERSON if identity else UNLABELLED
    if identity is not None and identity.casefold() in STATUS_WORDS:
        status, identity = STATUS_WORDS[identity.casefold()], None
    elif identity is not None and (problem := name_problem(identity)):
        errors.append((line, f"{where}: {problem}; or junk (not a person), or unsure"))
    problems = _exported_column_problems(values)
    errors.extend((line, f"{where}: {problem}") for problem in problems)
    match = FRAMES_RE.match(values.get("frames") or "")
    frames = (int(match[1]), int(match[2])) if match and int(match[1]) <= int(match[2]) else None
    return _Entry(
        line,
        where,
        values.get("location") or None,
        values.get("camera") or None,
        tracklet_id,
        frames,
        status,
        identity,
        {} if problems else {k: values.get(k, "") for k in ("start", "end", "n_crops")},
    )
