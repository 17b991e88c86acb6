"""The file route of labelling (offline work): a package for the annotators, filled by hand and
imported with ``labels import`` (``importing``). The labelling app (``cyclist-dataset annotate``)
is the main route; this one is for annotators without access to the workspace.

``export_package`` writes, for one location, a folder that opens offline: ``labels.csv`` (one
row per validation tracklet, or per part of a split one, filled in with the labels already
made), a contact sheet per tracklet (``sheets/<tracklet>.png``), its largest crop
(``crops/<tracklet>.jpg``) and ``index.html``, which lists for each tracklet its likeliest matches
at each other camera (``candidates``). Unlabelled validation tracklets stay in the test data as
distractors (open-world evaluation); junk and unsure ones are left out.
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

from cyclist_dataset.dataset.labels.candidates import (
    CandidateIndex,
    even,
)
from cyclist_dataset.dataset.labels.importing import TEMPLATE_COLUMNS
from cyclist_dataset.dataset.labels.location import location_settings
from cyclist_dataset.dataset.labels.tracklets import location_timezones, read_crops, tracklet_table
from cyclist_dataset.dataset.labels.units import (
    SPAN,
    UNLABELLED,
    describe_spans,
    label_of,
    whole,
)
from cyclist_dataset.dataset.labels.versions import LabelVersion, get_version, stale_units
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import atomic_dir, link_or_copy

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


def export_package(root: Path, location: str, out: Path, candidates: int = 3) -> ExportSummary:
    """Write the labelling package of one location's validation tracklets into the new folder
    ``out``: one row per tracklet (per part, for a split one), filled in with the latest label
    version's labels, and per tracklet its ``candidates`` likeliest matches at each other camera
    (``candidates.CandidateIndex``)."""
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
    index = CandidateIndex.build(
        root, chosen, lambda t: by_tracklet[t]["crop_path"], location_settings(root, location)
    )
    matches = {t: index.candidates(t, per_camera=candidates)[0] for t in chosen.index}
    version = get_version(root, None)
    units = _units_to_fill(version, chosen, rows)

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
            # which labels the file starts from: an import refuses rows relabelled since
            f.write(f"# label version: {version.name if version else 'none'}\n")
            writer = csv.writer(f)
            writer.writerow(TEMPLATE_COLUMNS)
            for unit in units.itertuples():
                info = chosen.loc[unit.tracklet_id]
                writer.writerow(
                    [
                        info["location"],
                        info["camera"],
                        unit.tracklet_id,
                        unit.frames,
                        _local(unit.start, zone),
                        _local(unit.end, zone),
                        unit.n_crops,
                        _representative(unit.tracklet_id, info),
                        unit.label,
                    ]
                )
        (tmp / "index.html").write_text(
            _index_html(location, chosen, matches, zone), encoding="utf-8"
        )
        (tmp / "README.txt").write_text(_package_readme(location, root), encoding="utf-8")
    return ExportSummary(out, len(chosen), chosen["camera"].nunique())


def _units_to_fill(
    version: LabelVersion | None, chosen: pd.DataFrame, crops: pd.DataFrame
) -> pd.DataFrame:
    """One row per unit to label: the latest version's units of these tracklets (a split
    tracklet: one per part, with its frames), the other tracklets whole; with their labels."""
    labels = version.labels if version is not None else None
    if labels is not None:
        labels = labels[labels["tracklet_id"].isin(chosen.index)]
        labels = labels.drop(stale_units(labels, crops).index)  # a rerun changed them: carry first
    spans = whole(chosen).assign(status=UNLABELLED, identity=None)
    if labels is not None and len(labels):
        spans = pd.concat(
            [
                spans[~spans["tracklet_id"].isin(labels["tracklet_id"])],
                labels[[*SPAN, "status", "identity"]],
            ],
            ignore_index=True,
        )
    units = describe_spans(crops, spans)
    parts = units.groupby("tracklet_id")["first_frame"].transform("size")
    units["frames"] = [
        f"{r.first_frame}-{r.last_frame}" if n > 1 else ""
        for r, n in zip(units.itertuples(), parts, strict=True)
    ]
    units["label"] = [
        "" if r.status == UNLABELLED else label_of(r.status, r.identity) for r in units.itertuples()
    ]
    order = chosen.reset_index()[["tracklet_id"]].reset_index().rename(columns={"index": "rank"})
    units = units.merge(order, on="tracklet_id").sort_values(["rank", "first_frame"])
    return units.reset_index(drop=True)


def _representative(tracklet_id: str, info: pd.Series) -> str:
    """The package's copy of a tracklet's largest crop (crops may be JPEG or PNG)."""
    return f"crops/{tracklet_id}{Path(info['representative']).suffix}"


def _local(ts: pd.Timestamp, zone: ZoneInfo) -> str:
    return ts.tz_convert(zone).isoformat(timespec="milliseconds")


def contact_sheet(root: Path, crop_paths: pd.Series, title: str) -> np.ndarray:
    """A grid of a tracklet's crops (at most SHEET_CROPS, evenly in time) under a title strip."""
    chosen = even(list(crop_paths), SHEET_CROPS)
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


def _index_html(location: str, tracklets: pd.DataFrame, matches: dict, zone: ZoneInfo) -> str:
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
        "every tracklet showing the same person; <code>junk</code> for what is not a person, "
        "<code>unsure</code> when you cannot tell. Candidates are the likeliest matches at each "
        "other camera, by time and colour. Then run "
        "<code>cyclist-dataset labels import WORKSPACE labels.csv</code>. (The labelling app, "
        "<code>cyclist-dataset annotate WORKSPACE</code>, does all of this in one place.)</p>",
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
        for listed in matches[tracklet_id].values():
            for candidate in listed:
                other = tracklets.loc[candidate.tracklet_id]
                image = e(_representative(candidate.tracklet_id, other))
                parts.append(
                    f"<figure><a href='#{e(candidate.tracklet_id)}'><img class='cand' "
                    f"src='{image}' alt='{e(candidate.tracklet_id)}'></a><figcaption>"
                    f"{e(candidate.tracklet_id)}<br>{e(candidate.camera)}, gap "
                    f"{candidate.gap_s:.1f} s, colour {candidate.appearance:.2f}</figcaption>"
                    "</figure>"
                )
        parts.append("</div></section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _package_readme(location: str, root: Path) -> str:
    return f"""Labelling package for location {location} (workspace {root}).

Open index.html in a browser (it works offline). For each tracklet it shows a contact sheet of
its crops and the likeliest matches at each other camera.

Fill the `identity` column of labels.csv: the same name (letters, digits, _ . -) for every
tracklet of the same person, at any camera. Write `junk` for a tracklet that is not a person
(left out of the test data) and `unsure` when you cannot tell (also left out: it may be a true
match). Rows left empty stay in the test data as unlabelled distractors. Labels already made are
filled in. Lines starting with # are comments.

A tracklet that switches from one person to another: copy its row and give each copy the
`frames` of its part (FIRST-LAST, frame numbers from its contact sheet), each with its identity.

Do not change the other columns: they say which tracklet you saw, and a row whose tracklet has
changed since (the pipeline was rerun) is rejected. Then:

    cyclist-dataset labels import WORKSPACE labels.csv

The file is merged into the latest label version: tracklets it does not list keep their labels
(--replace replaces the location's labels). A file with any error is rejected as a whole, with
the line of every problem. An import that changes nothing makes no new version.
"""
