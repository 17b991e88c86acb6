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
import html
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import cv2
import numpy as np
import pandas as pd

from cyclist_dataset.dataset.labels.tracklets import location_timezones, read_crops, tracklet_table
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import atomic_dir, link_or_copy

TEMPLATE_COLUMNS = (
    "location",
    "camera",
    "tracklet_id",
    "start",
    "end",
    "n_crops",
    "representative_crop",
    "identity",
)
# Contact sheets: crops letterboxed into fixed cells, at most SHEET_CROPS per tracklet (evenly in
# time).
SHEET_CROPS = 24
SHEET_COLUMNS = 8
CELL_W, CELL_H = 96, 192
HEADER_H = 28


@dataclass(frozen=True)
class ExportSummary:
    out: Path
    tracklets: int
    cameras: int


def export_package(
    root: Path, location: str, out: Path, candidates: int = 5, max_gap_s: float = 300.0
) -> ExportSummary:
    """Write the labelling package of one location's validation tracklets into the new folder
    ``out``.

    Candidates for a tracklet are the location's tracklets at other cameras within ``max_gap_s``
    (the gap between their time spans, 0 when they overlap), ranked by
    ``colour similarity - gap / max_gap_s`` (similarity: HSV histogram correlation, -1..1).
    """
    root, out = Path(root), Path(out)
    if out.exists():
        raise UserError(
            f"{out} already exists; give a new folder for the package (nothing is overwritten)"
        )
    crops = read_crops(root)
    tracklets = tracklet_table(crops)
    known = sorted(tracklets["location"].unique())
    if location not in known:
        raise UserError(
            f"{root}: no tracklets of location {location!r}; "
            f"locations here: {', '.join(known) or 'none'}"
        )
    chosen = tracklets[(tracklets["location"] == location) & (tracklets["split"] == "validation")]
    if chosen.empty:
        raise UserError(
            f"{root}: location {location!r} has no validation tracklets (the split's validation "
            "window holds none of its tracklets), so there is nothing to label"
        )
    zone = ZoneInfo(location_timezones(root).get(location, "UTC"))
    rows = crops[crops["tracklet_id"].isin(chosen.index)]
    by_tracklet = {t: g for t, g in rows.groupby("tracklet_id")}
    colours = {t: _colour_histogram(root, g["crop_path"]) for t, g in by_tracklet.items()}
    matches = _candidates(chosen, colours, candidates, max_gap_s)

    with atomic_dir(out) as tmp:
        for tracklet_id, group in by_tracklet.items():
            info = chosen.loc[tracklet_id]
            title = (
                f"{tracklet_id}  {info['camera']}  {_local(info['start'], zone)[11:19]}-"
                f"{_local(info['end'], zone)[11:19]}  {len(group)} crops"
            )
            _write_png(
                tmp / "sheets" / f"{tracklet_id}.png",
                contact_sheet(root, group["crop_path"], title),
            )
            link_or_copy(root / info["representative"], tmp / _representative(tracklet_id, info))
        with open(tmp / "labels.csv", "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(TEMPLATE_COLUMNS)
            for tracklet_id, info in chosen.iterrows():
                writer.writerow(
                    [
                        info["location"],
                        info["camera"],
                        tracklet_id,
                        _local(info["start"], zone),
                        _local(info["end"], zone),
                        info["n_crops"],
                        _representative(tracklet_id, info),
                        "",
                    ]
                )
        (tmp / "index.html").write_text(
            _index_html(location, chosen, matches, zone, max_gap_s), encoding="utf-8"
        )
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
            raise UserError(
                f"{root / path}: crop listed in the split manifest is missing or unreadable; "
                "rerun the pipeline's anonymize stage (--stages anonymize,split --force)"
            )
        scale = min(CELL_W / image.shape[1], CELL_H / image.shape[0])
        w, h = max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))
        resized = cv2.resize(
            image, (w, h), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
        )
        y = HEADER_H + (i // SHEET_COLUMNS) * CELL_H + (CELL_H - h) // 2
        x = (i % SHEET_COLUMNS) * CELL_W + (CELL_W - w) // 2
        sheet[y : y + h, x : x + w] = resized
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
        middle = image[h // 10 : h - h // 10, w // 5 : w - w // 5]
        if middle.size == 0:
            continue
        hsv = cv2.cvtColor(middle, cv2.COLOR_BGR2HSV)
        total += cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256])
    return cv2.normalize(total, np.empty_like(total), 1.0, 0.0, cv2.NORM_L1)


def _candidates(
    tracklets: pd.DataFrame, colours: dict[str, np.ndarray], limit: int, max_gap_s: float
) -> dict[str, list[tuple[str, float, float]]]:
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
            similarity = float(
                cv2.compareHist(colours[tracklet_id], colours[ids[j]], cv2.HISTCMP_CORREL)
            )
            ranked.append((similarity - gap[j] / max_gap_s, ids[j], float(gap[j]), similarity))
        ranked.sort(key=lambda r: (-r[0], r[1]))
        result[tracklet_id] = [(other_id, g, sim) for _, other_id, g, sim in ranked[:limit]]
    return result


def _index_html(
    location: str, tracklets: pd.DataFrame, matches: dict, zone: ZoneInfo, max_gap_s: float
) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>Labelling: {e(location)}</title>",
        "<style>body{font-family:sans-serif;margin:1em}"
        "section{border-top:1px solid #aaa;padding:.5em 0}"
        "figure{display:inline-block;margin:0 .5em;text-align:center;font-size:small}"
        "img.sheet{max-width:100%}img.cand{height:128px}"
        "td,th{padding:0 .6em;text-align:left}</style>",
        "</head><body>",
        f"<h1>Cross-camera labelling: {e(location)}</h1>",
        "<p>Give the same <b>identity</b> (any name: p1, p2, ...) in <code>labels.csv</code> to "
        "every tracklet showing the same person; leave it empty if unsure. Candidates are "
        "tracklets at other cameras, ranked "
        f"by time gap (at most {max_gap_s:g} s) and colour similarity. Then run "
        "<code>cyclist-dataset labels import WORKSPACE labels.csv</code>.</p>",
        "<table><tr><th>tracklet</th><th>camera</th><th>start</th><th>end</th><th>crops</th></tr>",
    ]
    for tracklet_id, info in tracklets.iterrows():
        parts.append(
            f"<tr><td><a href='#{e(tracklet_id)}'>{e(tracklet_id)}</a></td>"
            f"<td>{e(info['camera'])}</td>"
            f"<td>{_local(info['start'], zone)}</td><td>{_local(info['end'], zone)}</td>"
            f"<td>{info['n_crops']}</td></tr>"
        )
    parts.append("</table>")
    for tracklet_id, info in tracklets.iterrows():
        parts.append(
            f"<section id='{e(tracklet_id)}'><h2>{e(tracklet_id)} ({e(info['camera'])})</h2>"
        )
        parts.append(f"<img class='sheet' src='sheets/{e(tracklet_id)}.png' alt='contact sheet'>")
        parts.append("<p>Candidates at other cameras:</p><div>")
        if not matches[tracklet_id]:
            parts.append("<i>none within the time window</i>")
        for other_id, gap, similarity in matches[tracklet_id]:
            other = tracklets.loc[other_id]
            image = e(_representative(other_id, other))
            parts.append(
                f"<figure><a href='#{e(other_id)}'><img class='cand' src='{image}' "
                f"alt='{e(other_id)}'></a><figcaption>{e(other_id)}<br>{e(other['camera'])}, "
                f"gap {gap:.1f} s, colour {similarity:.2f}</figcaption></figure>"
            )
        parts.append("</div></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _package_readme(location: str, root: Path) -> str:
    return (
        f"Labelling package for location {location} (workspace {root}).\n\n"
        "Open index.html in a browser (it works offline). For each tracklet it shows a "
        "contact sheet of\n"
        "its crops and the likeliest matches at the other cameras.\n\n"
        "Fill the `identity` column of labels.csv: the same name "
        "(letters, digits, _ . -) for every\n"
        "tracklet of the same person, at any camera. Leave it empty when unsure: "
        "unlabelled tracklets\n"
        "stay in the test data as distractors. Lines starting with # are comments. "
        "Do not change the\n"
        "other columns. Then:\n\n"
        "    cyclist-dataset labels import WORKSPACE labels.csv\n\n"
        "A file with any error is rejected as a whole, with the line of every problem.\n"
    )
