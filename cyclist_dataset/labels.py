"""Cross-camera labels: the annotators' package, their filled file, and immutable label versions.

Training identities are per-camera tracklets; the validation part of every hour is labelled by
hand across cameras and becomes the test set (Schoustra 2020, Section IV.A). The workflow:

1. ``export_package``: for one location, a folder the annotators open offline: ``labels.csv``
   (one row per validation tracklet, an empty ``identity`` column), a contact sheet per tracklet
   (``sheets/<tracklet>.png``), its largest crop (``crops/<tracklet>.jpg``) and ``index.html``,
   which lists for each tracklet the likeliest matches in the location's other cameras (close in
   time, similar in colour).
2. The annotators write the same identity (any name: ``p1``, ``red-jacket``) into the rows of
   tracklets that show the same person; rows left empty stay unlabelled.
3. ``import_labels``: checks the whole file against the workspace and either rejects it (every
   problem with its line) or stores it as a new version ``WORKSPACE/labels/vNNNN/``. Versions are
   never modified. Each is a complete snapshot: the file's locations get the file's labels, other
   locations keep those of the previous version.

Unlabelled validation tracklets stay in the test data as distractors (open-world evaluation).
"""

from __future__ import annotations

import csv
import getpass
import hashlib
import html
import io
import json
import os
import re
import shutil
import tempfile
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Iterator
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cyclist_dataset import __version__, schemas
from cyclist_dataset.errors import UserError
from cyclist_dataset.workspace import PARAMS_KEY, Workspace

LABELS_DIR = "labels"
VERSION_RE = re.compile(r"^v(\d{4,})$")
IDENTITY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TEMPLATE_COLUMNS = ("location", "camera", "tracklet_id", "start", "end", "n_crops", "representative_crop",
                    "identity")
PARTIAL_SUFFIX = ".partial"  # unfinished folders; never ".tmp", which the workspace lock deletes as files
MAX_ERRORS_SHOWN = 50

# Contact sheets: crops letterboxed into fixed cells, at most SHEET_CROPS per tracklet (evenly in time).
SHEET_CROPS = 24
SHEET_COLUMNS = 8
CELL_W, CELL_H = 96, 192
HEADER_H = 28


# ---------------------------------------------------------------- folders and files


@contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Build a folder under a hidden temporary name beside ``target``; it becomes ``target`` only
    if the block succeeds, so nobody ever sees a half-written folder."""
    if target.exists():
        raise UserError(f"{target} already exists; choose another name (existing results are never overwritten)")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=PARTIAL_SUFFIX, dir=target.parent))
    try:
        yield tmp
        tmp.chmod(0o755)  # mkdtemp makes it private
        try:
            os.rename(tmp, target)  # fails if a non-empty target appeared meanwhile
        except OSError:
            raise UserError(f"{target} was created by someone else meanwhile; choose another name") from None
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def remove_stale_partials(folder: Path) -> None:
    """Unfinished folders left by a killed command (call while holding the workspace lock)."""
    if folder.is_dir():
        for stale in folder.glob(f".*{PARTIAL_SUFFIX}"):
            shutil.rmtree(stale, ignore_errors=True)


def link_or_copy(source: Path, target: Path) -> None:
    """A hard link (no space, and crops are only ever replaced, never rewritten in place), or a copy
    where links are impossible (another file system)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- the workspace's tracklets


def read_crops(root: Path) -> pd.DataFrame:
    """The split manifest (``manifests/crops``) of a workspace, every video."""
    folder = Workspace(root).manifest("crops")
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise UserError(f"{folder}: no split manifest; run the pipeline (all stages) on this workspace first")
    frame = pd.read_parquet(folder)
    return frame.sort_values(["tracklet_id", "frame_index"], kind="stable").reset_index(drop=True)


def location_timezones(root: Path) -> dict[str, str]:
    """Each location's clock (the split stage's ``timezone`` parameter), for local times in the package."""
    zones: dict[str, str] = {}
    for path in sorted(Workspace(root).manifest("crops").glob("*.parquet")):
        params = json.loads((pq.read_schema(path).metadata or {}).get(PARAMS_KEY, b"{}"))
        locations = pq.read_table(path, columns=["location"]).column("location").unique().to_pylist()
        for location in locations:
            zones.setdefault(location, params.get("timezone", "UTC"))
    return zones


def tracklet_fingerprints(crops: pd.DataFrame) -> pd.Series:
    """Per tracklet, a hash of its crops (video, frame, box): labels made on one tracklet must not
    silently attach to a different one after a rerun of the pipeline reuses its id."""
    keys = crops["video_id"] + "|" + crops["frame_index"].astype(str)
    for column in ("x1", "y1", "x2", "y2"):
        keys = keys + "|" + crops[column].round(1).astype(str)
    ordered = pd.DataFrame({"tracklet_id": crops["tracklet_id"], "key": keys}).sort_values(["tracklet_id", "key"])
    return ordered.groupby("tracklet_id")["key"].agg(lambda k: sha256_bytes("\n".join(k).encode())[:16])


def tracklet_table(crops: pd.DataFrame) -> pd.DataFrame:
    """One row per tracklet: location, camera, split, start, end (UTC), crops, largest crop, fingerprint."""
    if crops.empty:
        return pd.DataFrame(columns=["location", "camera", "split", "video_id", "start", "end", "n_crops",
                                     "representative", "fingerprint"])
    area = (crops["x2"] - crops["x1"]) * (crops["y2"] - crops["y1"])
    largest = crops.assign(area=area).sort_values(["tracklet_id", "area", "frame_index"],
                                                  ascending=[True, False, True]).groupby("tracklet_id").head(1)
    grouped = crops.groupby("tracklet_id")
    table = pd.DataFrame({
        "location": grouped["location"].first(), "camera": grouped["camera"].first(),
        "split": grouped["split"].first(), "video_id": grouped["video_id"].first(),
        "start": grouped["timestamp"].min(), "end": grouped["timestamp"].max(), "n_crops": grouped.size(),
        "representative": largest.set_index("tracklet_id")["crop_path"],
    })
    table["fingerprint"] = tracklet_fingerprints(crops)
    table = table.rename_axis("tracklet_id").reset_index()
    return table.sort_values(["location", "camera", "start", "tracklet_id"]).set_index("tracklet_id")


# ---------------------------------------------------------------- export


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    tracklets: int
    cameras: int


def export_package(root: Path, location: str, out: Path, candidates: int = 5,
                   max_gap_s: float = 300.0) -> ExportSummary:
    """Write the labelling package of one location's validation tracklets into the new folder ``out``.

    Candidates for a tracklet are the location's tracklets at other cameras within ``max_gap_s``
    (the gap between their time spans, 0 when they overlap), ranked by
    ``colour similarity - gap / max_gap_s`` (similarity: HSV histogram correlation, -1..1).
    """
    root, out = Path(root), Path(out)
    if out.exists():
        raise UserError(f"{out} already exists; give a new folder for the package (nothing is overwritten)")
    crops = read_crops(root)
    tracklets = tracklet_table(crops)
    known = sorted(tracklets["location"].unique())
    if location not in known:
        raise UserError(f"{root}: no tracklets of location {location!r}; locations here: {', '.join(known) or 'none'}")
    chosen = tracklets[(tracklets["location"] == location) & (tracklets["split"] == "validation")]
    if chosen.empty:
        raise UserError(f"{root}: location {location!r} has no validation tracklets (the split's validation "
                        "window holds none of its tracklets), so there is nothing to label")
    zone = ZoneInfo(location_timezones(root).get(location, "UTC"))
    rows = crops[crops["tracklet_id"].isin(chosen.index)]
    by_tracklet = {t: g for t, g in rows.groupby("tracklet_id")}
    colours = {t: _colour_histogram(root, g["crop_path"]) for t, g in by_tracklet.items()}
    matches = _candidates(chosen, colours, candidates, max_gap_s)

    with atomic_dir(out) as tmp:
        for tracklet_id, group in by_tracklet.items():
            info = chosen.loc[tracklet_id]
            title = f"{tracklet_id}  {info['camera']}  {_local(info['start'], zone)[11:19]}-" \
                    f"{_local(info['end'], zone)[11:19]}  {len(group)} crops"
            _write_png(tmp / "sheets" / f"{tracklet_id}.png", contact_sheet(root, group["crop_path"], title))
            link_or_copy(root / info["representative"], tmp / _representative(tracklet_id, info))
        with open(tmp / "labels.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(TEMPLATE_COLUMNS)
            for tracklet_id, info in chosen.iterrows():
                writer.writerow([info["location"], info["camera"], tracklet_id, _local(info["start"], zone),
                                 _local(info["end"], zone), info["n_crops"], _representative(tracklet_id, info), ""])
        (tmp / "index.html").write_text(_index_html(location, chosen, matches, zone, max_gap_s), encoding="utf-8")
        (tmp / "README.txt").write_text(_package_readme(location, root), encoding="utf-8")
    return ExportSummary(out, len(chosen), chosen["camera"].nunique())


def _representative(tracklet_id: str, info: pd.Series) -> str:
    """The package's copy of a tracklet's largest crop (crops may be JPEG or PNG)."""
    return f"crops/{tracklet_id}{Path(info['representative']).suffix}"


def _local(ts: pd.Timestamp, zone: ZoneInfo) -> str:
    return ts.tz_convert(zone).isoformat(timespec="milliseconds")


def _even(items: pd.Series, n: int) -> list:
    values = list(items)
    if len(values) <= n:
        return values
    return [values[i] for i in np.linspace(0, len(values) - 1, n).round().astype(int)]


def contact_sheet(root: Path, crop_paths: pd.Series, title: str) -> np.ndarray:
    """A grid of a tracklet's crops (at most SHEET_CROPS, evenly in time) under a title strip."""
    chosen = _even(crop_paths, SHEET_CROPS)
    rows = max(1, -(-len(chosen) // SHEET_COLUMNS))
    sheet = np.full((HEADER_H + rows * CELL_H, SHEET_COLUMNS * CELL_W, 3), 235, np.uint8)
    cv2.putText(sheet, title, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    for i, path in enumerate(chosen):
        image = cv2.imread(str(root / path))
        if image is None:
            raise UserError(f"{root / path}: crop listed in the split manifest is missing or unreadable; "
                            "rerun the pipeline's anonymize stage (--stages anonymize,split --force)")
        scale = min(CELL_W / image.shape[1], CELL_H / image.shape[0])
        w, h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
        resized = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        y = HEADER_H + (i // SHEET_COLUMNS) * CELL_H + (CELL_H - h) // 2
        x = (i % SHEET_COLUMNS) * CELL_W + (CELL_W - w) // 2
        sheet[y:y + h, x:x + w] = resized
    return sheet


def _write_png(path: Path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ok, data = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError(f"could not encode {path}")
    path.write_bytes(data.tobytes())


def _colour_histogram(root: Path, crop_paths: pd.Series) -> np.ndarray:
    """Hue-saturation histogram of the middle of a tracklet's crops (clothes, not background)."""
    total = np.zeros((16, 8), np.float32)
    for path in _even(crop_paths, 8):
        image = cv2.imread(str(root / path))
        if image is None:
            continue
        h, w = image.shape[:2]
        middle = image[h // 10: h - h // 10, w // 5: w - w // 5]
        if middle.size == 0:
            continue
        hsv = cv2.cvtColor(middle, cv2.COLOR_BGR2HSV)
        total += cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(total, None, 1.0, 0.0, cv2.NORM_L1)


def _candidates(tracklets: pd.DataFrame, colours: dict[str, np.ndarray], limit: int,
                max_gap_s: float) -> dict[str, list[tuple[str, float, float]]]:
    """Per tracklet: (other tracklet, gap in s, colour similarity), best first."""
    ids = list(tracklets.index)
    cameras = tracklets["camera"].to_numpy()
    start = (tracklets["start"] - tracklets["start"].min()).dt.total_seconds().to_numpy()
    end = (tracklets["end"] - tracklets["start"].min()).dt.total_seconds().to_numpy()
    result: dict[str, list[tuple[str, float, float]]] = {}
    for i, tracklet_id in enumerate(ids):
        gap = np.maximum(0.0, np.maximum(start[i], start) - np.minimum(end[i], end))
        ranked = []
        for j in np.flatnonzero((cameras != cameras[i]) & (gap <= max_gap_s)):
            similarity = float(cv2.compareHist(colours[tracklet_id], colours[ids[j]], cv2.HISTCMP_CORREL))
            ranked.append((similarity - gap[j] / max_gap_s, ids[j], float(gap[j]), similarity))
        ranked.sort(key=lambda r: (-r[0], r[1]))
        result[tracklet_id] = [(other_id, g, sim) for _, other_id, g, sim in ranked[:limit]]
    return result


def _index_html(location: str, tracklets: pd.DataFrame, matches: dict, zone: ZoneInfo, max_gap_s: float) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Labelling: {e(location)}</title>",
        "<style>body{font-family:sans-serif;margin:1em}section{border-top:1px solid #aaa;padding:.5em 0}"
        "figure{display:inline-block;margin:0 .5em;text-align:center;font-size:small}"
        "img.sheet{max-width:100%}img.cand{height:128px}td,th{padding:0 .6em;text-align:left}</style>",
        "</head><body>",
        f"<h1>Cross-camera labelling: {e(location)}</h1>",
        "<p>Give the same <b>identity</b> (any name: p1, p2, ...) in <code>labels.csv</code> to every tracklet "
        "showing the same person; leave it empty if unsure. Candidates are tracklets at other cameras, ranked "
        f"by time gap (at most {max_gap_s:g} s) and colour similarity. Then run "
        "<code>cyclist-dataset labels import WORKSPACE labels.csv</code>.</p>",
        "<table><tr><th>tracklet</th><th>camera</th><th>start</th><th>end</th><th>crops</th></tr>",
    ]
    for tracklet_id, info in tracklets.iterrows():
        parts.append(f"<tr><td><a href='#{e(tracklet_id)}'>{e(tracklet_id)}</a></td><td>{e(info['camera'])}</td>"
                     f"<td>{_local(info['start'], zone)}</td><td>{_local(info['end'], zone)}</td>"
                     f"<td>{info['n_crops']}</td></tr>")
    parts.append("</table>")
    for tracklet_id, info in tracklets.iterrows():
        parts.append(f"<section id='{e(tracklet_id)}'><h2>{e(tracklet_id)} ({e(info['camera'])})</h2>")
        parts.append(f"<img class='sheet' src='sheets/{e(tracklet_id)}.png' alt='contact sheet'>")
        parts.append("<p>Candidates at other cameras:</p><div>")
        if not matches[tracklet_id]:
            parts.append("<i>none within the time window</i>")
        for other_id, gap, similarity in matches[tracklet_id]:
            other = tracklets.loc[other_id]
            image = e(_representative(other_id, other))
            parts.append(f"<figure><a href='#{e(other_id)}'><img class='cand' src='{image}' "
                         f"alt='{e(other_id)}'></a><figcaption>{e(other_id)}<br>{e(other['camera'])}, "
                         f"gap {gap:.1f} s, colour {similarity:.2f}</figcaption></figure>")
        parts.append("</div></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _package_readme(location: str, root: Path) -> str:
    return (
        f"Labelling package for location {location} (workspace {root}).\n\n"
        "Open index.html in a browser (it works offline). For each tracklet it shows a contact sheet of\n"
        "its crops and the likeliest matches at the other cameras.\n\n"
        "Fill the `identity` column of labels.csv: the same name (letters, digits, _ . -) for every\n"
        "tracklet of the same person, at any camera. Leave it empty when unsure: unlabelled tracklets\n"
        "stay in the test data as distractors. Lines starting with # are comments. Do not change the\n"
        "other columns. Then:\n\n"
        "    cyclist-dataset labels import WORKSPACE labels.csv\n\n"
        "A file with any error is rejected as a whole, with the line of every problem.\n"
    )


# ---------------------------------------------------------------- versions


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
    found = [p for p in folder.iterdir() if p.is_dir() and VERSION_RE.match(p.name)] if folder.is_dir() else []
    return [LabelVersion(p.name, p) for p in sorted(found, key=lambda p: int(p.name[1:]))]


def get_version(root: Path, name: str | None) -> LabelVersion | None:
    """A label version by name ("v0002", "2"), the latest one for None; None when there is none at all."""
    versions = list_versions(root)
    if name is None:
        return versions[-1] if versions else None
    wanted = f"v{int(name[1:] if name.startswith('v') else name):04d}" if re.fullmatch(r"v?\d+", name) else name
    for version in versions:
        if version.name == wanted:
            return version
    raise UserError(f"{Path(root) / LABELS_DIR}: no label version {name!r}; versions: "
                    f"{', '.join(v.name for v in versions) or 'none (import a label file first)'}")


# ---------------------------------------------------------------- import


@dataclass(frozen=True)
class _Entry:
    line: int
    where: str  # how a message names the entry: "line 7" or "line 7 (labels[2])"
    location: str | None
    camera: str | None
    tracklet_id: str
    identity: str | None


def import_labels(root: Path, file: Path, by: str | None = None, overlapping_views: bool = False) -> LabelVersion:
    """Validate a filled label file (CSV, or JSON) and store it as the workspace's next label version.

    Any problem rejects the whole file (UserError listing every problem with its line); nothing is
    written then. ``overlapping_views``: the location's cameras watch the same place, so one person
    may be at two cameras at once (otherwise that is an error).
    """
    root, file = Path(root), Path(file)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise UserError(f"{file}: cannot read the label file: {exc.strerror}") from None
    entries, errors = (_parse_json if file.suffix.lower() == ".json" else _parse_csv)(data, file.name)
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
        raise UserError(f"{file}: rejected, nothing was imported ({len(errors)} problem(s)):\n  "
                        + "\n  ".join(shown) + (f"\n  ... and {more} more" if more > 0 else ""))

    workspace = Workspace(root)
    folder = root / LABELS_DIR
    with workspace.locked():
        remove_stale_partials(folder)
        previous = get_version(root, None)
        name = f"v{(int(previous.name[1:]) if previous else 0) + 1:04d}"
        replaced = sorted({str(tracklets.at[e.tracklet_id, "location"]) for e in entries})
        rows = [{"location": tracklets.at[e.tracklet_id, "location"], "camera": tracklets.at[e.tracklet_id, "camera"],
                 "tracklet_id": e.tracklet_id, "identity": e.identity,
                 "tracklet_fingerprint": tracklets.at[e.tracklet_id, "fingerprint"],
                 "label_version": name, "source_line": e.line} for e in labelled]
        frame = pd.DataFrame(rows, columns=schemas.LABELS.names)
        if previous is not None:  # a snapshot: keep the other locations' labels
            kept = previous.labels
            frame = pd.concat([kept[~kept["location"].isin(replaced)], frame], ignore_index=True)
        frame = frame.sort_values(["location", "identity", "camera", "tracklet_id"]).reset_index(drop=True)
        validation = tracklets[tracklets["split"] == "validation"]
        meta = {
            "version": name,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "created_by": by or getpass.getuser(),
            "source_file": str(file.resolve()),
            "source_sha256": sha256_bytes(data),
            "format": "json" if file.suffix.lower() == ".json" else "csv",
            "locations_replaced": replaced,
            "previous_version": previous.name if previous else None,
            "overlapping_views": overlapping_views,
            "labelled_tracklets": len(frame),
            "identities": int(frame.groupby(["location", "identity"]).ngroups) if len(frame) else 0,
            "unlabelled_validation_tracklets": int((~validation.index.isin(frame["tracklet_id"])).sum()),
            "tool_version": __version__,
        }
        with atomic_dir(folder / name) as tmp:
            pq.write_table(schemas.from_pandas(schemas.LABELS, frame), tmp / "labels.parquet")
            (tmp / f"source{file.suffix.lower() or '.csv'}").write_bytes(data)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n", encoding="utf-8")
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
                    return [], [(line, f"{name}:{line}: the header has no column {', '.join(missing)}; "
                                       f"start from the exported labels.csv (columns {', '.join(TEMPLATE_COLUMNS)})")]
                continue
            if len(record) > len(header):
                errors.append((line, f"{name}:{line}: {len(record)} fields, the header has {len(header)}; "
                                     "quote values that contain commas"))
                continue
            values = dict(zip(header, (cell.strip() for cell in record)))
            entries.append(_entry(values, line, f"{name}:{line}", errors))
    except csv.Error as exc:
        errors.append((reader.line_num, f"{name}:{reader.line_num}: not valid CSV: {exc}"))
    if header is None:
        errors.append((0, f"{name}: empty file; start from the exported labels.csv"))
    return entries, errors


def _parse_json(data: bytes, name: str) -> tuple[list[_Entry], list[tuple[int, str]]]:
    """``[{"tracklet_id": ..., "identity": ...}, ...]`` or ``{"labels": [...]}``; optional location, camera."""
    try:
        text = data.decode("utf-8-sig")
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        where = f":{exc.lineno}" if isinstance(exc, json.JSONDecodeError) else ""
        return [], [(getattr(exc, "lineno", 0), f"{name}{where}: not valid JSON: {exc}")]
    items = document.get("labels") if isinstance(document, dict) else document
    if not isinstance(items, list):
        return [], [(1, f"{name}:1: expected a list of labels or {{\"labels\": [...]}}")]
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


def _entry(values: dict[str, str], line: int, where: str, errors: list[tuple[int, str]]) -> _Entry:
    identity = values.get("identity", "") or None
    tracklet_id = values.get("tracklet_id", "")
    if not tracklet_id:
        errors.append((line, f"{where}: tracklet_id is empty; every row needs the tracklet it labels"))
    if identity is not None and not IDENTITY_RE.match(identity):
        errors.append((line, f"{where}: identity {identity!r} is malformed; use letters, digits, _ . - "
                             "(starting with a letter or digit)"))
    return _Entry(line, where, values.get("location") or None, values.get("camera") or None, tracklet_id, identity)


def _check(entries: list[_Entry], tracklets: pd.DataFrame, overlapping_views: bool) -> list[tuple[int, str]]:
    """Every problem of a parsed label file against the workspace's tracklets, with its line."""
    errors: list[tuple[int, str]] = []
    seen: dict[str, _Entry] = {}
    valid: list[_Entry] = []
    for e in entries:
        if not e.tracklet_id:
            continue  # reported by the parser
        if e.tracklet_id not in tracklets.index:
            errors.append((e.line, f"{e.where}: unknown tracklet {e.tracklet_id!r} (not in this workspace's split "
                                   "manifest); copy ids from the exported labels.csv"))
            continue
        info = tracklets.loc[e.tracklet_id]
        if info["split"] != "validation":
            errors.append((e.line, f"{e.where}: tracklet {e.tracklet_id!r} is in the {info['split']} part, not "
                                   "validation; only validation tracklets are labelled"))
            continue
        wrong = [(field, given, info[field]) for field, given in (("location", e.location), ("camera", e.camera))
                 if given is not None and given != info[field]]
        for field, given, actual in wrong:
            errors.append((e.line, f"{e.where}: {field} {given!r} does not match tracklet {e.tracklet_id!r} "
                                   f"({field} {actual!r}); do not edit the exported columns"))
        if e.tracklet_id in seen:
            first = seen[e.tracklet_id]
            if first.identity and e.identity and first.identity != e.identity:
                errors.append((e.line, f"{e.where}: tracklet {e.tracklet_id!r} is given two identities: "
                                       f"{first.identity!r} (line {first.line}) and {e.identity!r}; keep one row"))
            else:
                errors.append((e.line, f"{e.where}: tracklet {e.tracklet_id!r} is listed twice (first at line "
                                       f"{first.line}); keep one row"))
            continue
        seen[e.tracklet_id] = e
        if not wrong:
            valid.append(e)

    by_identity: dict[str, list[_Entry]] = defaultdict(list)
    for e in valid:
        if e.identity:
            by_identity[e.identity].append(e)
    for identity, members in by_identity.items():
        locations: dict[str, _Entry] = {}
        for e in members:
            location = tracklets.at[e.tracklet_id, "location"]
            if locations and location not in locations:
                first_location, first = next(iter(locations.items()))
                errors.append((e.line, f"{e.where}: identity {identity!r} is at location {location!r} and at "
                                       f"{first_location!r} (line {first.line}); one identity is one person at "
                                       "one location: use another name"))
            locations.setdefault(location, e)
        # Two cameras at overlapping times: impossible unless their views overlap. (One camera at
        # overlapping times is allowed: the tracker can briefly follow one person twice, as it does
        # on the multicam_lab footage, where cam2's tracklets t0004 and t0006 overlap by 0.5 s.)
        if overlapping_views:
            continue
        for i, a in enumerate(members):
            for b in members[:i]:
                ta, tb = tracklets.loc[a.tracklet_id], tracklets.loc[b.tracklet_id]
                if (ta["location"] != tb["location"] or ta["camera"] == tb["camera"]
                        or not (ta["start"] <= tb["end"] and tb["start"] <= ta["end"])):
                    continue
                errors.append((a.line, f"{a.where}: identity {identity!r} is at {ta['camera']} ({a.tracklet_id}) "
                                       f"and at {tb['camera']} ({b.tracklet_id}, line {b.line}) at overlapping "
                                       "times; one person cannot be at two cameras at once (if these cameras "
                                       "watch the same place, import with --overlapping-views)"))
    return errors
