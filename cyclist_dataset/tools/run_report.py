"""The run report: ``WORKSPACE/report/index.html``, one static page that `run` writes at its end.

Per location, camera and video: frames, detections, boxes kept and dropped by each filter rule,
tracklets (histograms of their length and duration), crops per split, the privacy audit's figures,
the time each stage took and links to the manifests; per camera one frame with its ROI and the
filter's verdicts, every person in it blurred. Charts are inline SVG drawn here from the data: the
page has no script and loads nothing from the network, so it opens offline from the file system.
Its numbers come from ``tools.report.summary`` and ``drops`` (one place for each fact).
"""

from __future__ import annotations

import html
import math
import os
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from cyclist_dataset._version import __version__
from cyclist_dataset.core.config import PipelineConfig
from cyclist_dataset.io.atomic import write_if_changed
from cyclist_dataset.io.workspace import (
    COMPUTE_SECONDS,
    STAGE_OUTPUT,
    Workspace,
    read_params,
)
from cyclist_dataset.pipeline.run import RunReport
from cyclist_dataset.stages.filter import DROP_REASONS
from cyclist_dataset.tools import frames
from cyclist_dataset.tools.report import MANIFESTS, drops, summary
from cyclist_dataset.tools.roi_preview import preview_frame

PAGE = "index.html"
STAGES = tuple(STAGE_OUTPUT)  # pipeline order
SUMMARY_COLUMNS = ("frames", "detections", "kept", "tracklets", "crops_train", "crops_validation")
SPLITS = ("train", "validation")
_TEMPLATES = Path(__file__).parent / "templates"


# ------------------------------------------------------------------------------ charts (inline SVG)


def _number(value: float) -> str:
    """Whole numbers without decimals, others with one."""
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def _svg(css_class: str, width: int, height: int, title: str, body: list[str]) -> Markup:
    title = html.escape(title)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {css_class}" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" aria-label="{title}">'
        f"<title>{title}</title>{''.join(body)}</svg>"
    )


def bar_chart(values: Mapping[str, float], title: str, css_class: str, unit: str = "") -> Markup:
    """Horizontal bars, one per key in the mapping's order, each labelled with its key and value;
    the longest bar is the largest value (all bars empty when every value is 0)."""
    label_w, bar_w, row_h = 110, 220, 22
    width, height = label_w + bar_w + 80, row_h * len(values) + 4
    peak = max((float(v) for v in values.values()), default=0.0) or 1.0
    body = []
    for row, (label, value) in enumerate(values.items()):
        y, length = 2 + row * row_h, bar_w * float(value) / peak
        name, shown = html.escape(label), _number(value)
        body.append(
            f'<g class="bar" data-label="{name}" data-value="{shown}">'
            f"<title>{name}: {shown}{unit}</title>"
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end">{name}</text>'
            f'<rect x="{label_w}" y="{y + 4}" width="{length:.1f}" height="{row_h - 8}"/>'
            f'<text class="value" x="{label_w + length + 4:.1f}" y="{y + 15}">{shown}{unit}</text>'
            "</g>"
        )
    return _svg(f"bars {css_class}", width, height, title, body)


def histogram_bins(
    values: Sequence[float] | np.ndarray, bins: int = 10, whole: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Counts and edges of ``values`` in at most ``bins`` equal bins (fewer for few values:
    Sturges' rule). ``whole``: the values are counts, and each bin holds whole numbers [low, high)
    (its width a whole number too)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return np.zeros(0, dtype=int), np.zeros(0)
    bins = max(1, min(bins, math.ceil(math.log2(data.size)) + 1))
    low, high = float(data.min()), float(data.max())
    if whole:
        low, high = math.floor(low), math.floor(high) + 1
        step = max(1, math.ceil((high - low) / bins))
        edges = low + step * np.arange(math.ceil((high - low) / step) + 1, dtype=float)
    else:
        if high == low:
            low, high = low - 0.5, high + 0.5
        edges = np.linspace(low, high, bins + 1)
    counts, edges = np.histogram(data, bins=edges)
    return counts, edges


def histogram(
    values: Sequence[float] | np.ndarray,
    title: str,
    css_class: str,
    unit: str,
    whole: bool = False,
    bins: int = 10,
) -> Markup:
    """A histogram as vertical bars with each bin's count above it: whole-number bins labelled
    with their values (``7`` or ``7-9``), others with their edges. An empty input says so."""
    counts, edges = histogram_bins(values, bins, whole)
    if not counts.size:
        return Markup(f'<p class="empty {css_class}">{html.escape(title)}: none</p>')
    left, bin_w, plot_h, top = 30, 44, 100, 16
    decimals = min(3, max(0, 1 - math.floor(math.log10(float(edges[1] - edges[0])))))
    width, height = left + bin_w * len(counts) + 30, top + plot_h + 34
    peak = int(counts.max()) or 1
    body = [
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + bin_w * len(counts)}" '
        f'y2="{top + plot_h}" class="axis"/>',
        f'<text x="{left}" y="{height - 2}" class="axis-title">{html.escape(unit)}</text>',
    ]
    for i, count in enumerate(counts):
        low, high = float(edges[i]), float(edges[i + 1])
        if whole:
            label = _number(low) if high - low == 1 else f"{_number(low)}-{_number(high - 1)}"
        else:
            label = f"{low:.{decimals}f}-{high:.{decimals}f}"
        x, bar_h = left + i * bin_w, plot_h * int(count) / peak
        body.append(
            f'<g class="bin" data-low="{low:g}" data-high="{high:g}" data-count="{int(count)}">'
            f"<title>{html.escape(label)} {html.escape(unit)}: {int(count)}</title>"
            f'<rect x="{x + 2}" y="{top + plot_h - bar_h:.1f}" width="{bin_w - 4}" '
            f'height="{bar_h:.1f}"/>'
            f'<text class="value" x="{x + bin_w / 2}" y="{top + plot_h - bar_h - 3:.1f}" '
            f'text-anchor="middle">{int(count)}</text>'
            + (
                f'<text x="{x + bin_w / 2}" y="{top + plot_h + 12}" text-anchor="middle">'
                f"{html.escape(label)}</text>"
                if whole
                else ""
            )
            + "</g>"
        )
    if not whole:  # edges as ticks under the bin boundaries, as precise as the bins are narrow
        for i, edge in enumerate(edges):
            body.append(
                f'<text x="{left + i * bin_w}" y="{top + plot_h + 12}" text-anchor="middle">'
                f"{float(edge):.{decimals}f}</text>"
            )
    return _svg(f"histogram {css_class}", width, height, title, body)


# ------------------------------------------------------------------------------------ the figures


@dataclass
class Audit:
    """The privacy audit of a set of crops, as the anonymize stage recorded it."""

    audited: int = 0  # crops the audit checked (null verdict: the audit was off)
    passed: int = 0
    refused: int = 0  # found a face after the last escalation: never written
    escalated: int = 0  # crops blurred again because the audit found a face
    highest_score: float | None = None  # of the written crops: face score / threshold (< 1)

    @staticmethod
    def of(rows: pd.DataFrame) -> Audit:
        none = pd.Series([], dtype=float)
        verdicts = (rows["audit_passed"] if "audit_passed" in rows else none).dropna().astype(bool)
        written = rows[rows["crop_path"].notna()] if "crop_path" in rows else rows
        scores = written["audit_face_score"].dropna() if "audit_face_score" in written else none
        refused = rows["refused"].notna().sum() if "refused" in rows else (~verdicts).sum()
        escalations = rows["audit_escalations"] if "audit_escalations" in rows else none
        return Audit(
            audited=len(verdicts),
            passed=int(verdicts.sum()),
            refused=int(refused),
            escalated=int((escalations.fillna(0) > 0).sum()),
            highest_score=round(float(scores.max()), 3) if len(scores) else None,
        )


@dataclass
class Figures:
    """What a video, a camera or a location produced (sums over its videos)."""

    counts: dict[str, int]  # SUMMARY_COLUMNS, as tools.report.summary gives them
    dropped: dict[str, int]  # per filter rule (DROP_REASONS)
    seconds: dict[str, float | None]  # per stage; None: no result, or one without a timing
    audit: Audit
    lengths: list[int] = field(default_factory=list)  # boxes per tracklet
    durations: list[float] = field(default_factory=list)  # seconds per tracklet

    def drops_chart(self, what: str) -> Markup:
        return bar_chart(self.dropped, f"boxes dropped by rule, {what}", "drops")

    def time_chart(self, what: str) -> Markup:
        timed = {s: v for s, v in self.seconds.items() if v is not None}
        if not timed:
            return Markup('<p class="empty times">no stage timings recorded</p>')
        return bar_chart(timed, f"seconds per stage, {what}", "times", unit=" s")

    def length_histogram(self) -> Markup:
        return histogram(self.lengths, "tracklet length", "lengths", "boxes", whole=True)

    def duration_histogram(self) -> Markup:
        return histogram(self.durations, "tracklet duration", "durations", "seconds")


@dataclass
class Link:
    name: str
    href: str


@dataclass
class VideoPart:
    video_id: str
    figures: Figures
    links: list[Link]
    failure: str | None = None
    this_run: dict[str, str] = field(default_factory=dict)  # stage -> computed | up to date


@dataclass
class CameraPart:
    camera: str
    figures: Figures
    videos: list[VideoPart]
    links: list[Link]
    overlay: str | None = None  # href of the ROI overlay
    overlay_note: str | None = None  # why there is none


@dataclass
class LocationPart:
    location: str
    figures: Figures
    cameras: list[CameraPart]


def _tables(folder: Path, columns: Sequence[str]) -> pd.DataFrame:
    """The per-video Parquet files of a folder, with those of ``columns`` each file has (results
    of older versions lack some)."""
    frames = []
    for path in sorted(folder.glob("*.parquet")):
        names = pq.read_schema(path).names
        frames.append(pd.read_parquet(path, columns=[c for c in columns if c in names]))
    frames = [f for f in frames if len(f.columns)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))


def _seconds(workspace: Workspace, video_id: str) -> dict[str, float | None]:
    seconds: dict[str, float | None] = {}
    for stage in STAGES:
        path = workspace.stage_output(stage, video_id)
        try:
            value = read_params(path).get(COMPUTE_SECONDS) if path.is_file() else None
        except (OSError, ValueError, pa.ArrowInvalid):
            value = None
        seconds[stage] = float(value) if isinstance(value, (int, float)) else None
    return seconds


def _sum(parts: Sequence[Figures]) -> Figures:
    def total(values: list[float | None]) -> float | None:
        known = [v for v in values if v is not None]
        return round(sum(known), 3) if known else None

    audits = [p.audit for p in parts]
    highest = [a.highest_score for a in audits if a.highest_score is not None]
    return Figures(
        counts={c: sum(p.counts[c] for p in parts) for c in SUMMARY_COLUMNS},
        dropped={r: sum(p.dropped[r] for p in parts) for r in DROP_REASONS},
        seconds={s: total([p.seconds[s] for p in parts]) for s in STAGES},
        audit=Audit(
            audited=sum(a.audited for a in audits),
            passed=sum(a.passed for a in audits),
            refused=sum(a.refused for a in audits),
            escalated=sum(a.escalated for a in audits),
            highest_score=max(highest) if highest else None,
        ),
        lengths=[n for p in parts for n in p.lengths],
        durations=[d for p in parts for d in p.durations],
    )


class _Links:
    """Relative hrefs from the report's folder, to what exists in the workspace."""

    def __init__(self, workspace: Workspace) -> None:
        self.folder = workspace.report_folder()

    def href(self, target: Path) -> str:
        relative = Path(os.path.relpath(target, self.folder)).as_posix()
        return urllib.parse.quote(relative) + ("/" if target.is_dir() else "")

    def existing(self, named: Sequence[tuple[str, Path]]) -> list[Link]:
        return [Link(name, self.href(path)) for name, path in named if path.exists()]


# ------------------------------------------------------------------------------------- the page


@dataclass
class Report:
    """The page's content (``build``), rendered by ``render``."""

    workspace: Path
    pipeline: str
    total: dict[str, int]  # summary()'s TOTAL row
    figures: Figures  # the whole workspace
    locations: list[LocationPart]
    manifests: list[Link]
    failures: dict[str, tuple[str, str]]  # video_id -> (stage, message)
    missing: list[str]  # videos of the pipeline with no ingest result
    computed: int | None = None
    up_to_date: int | None = None
    version: str = __version__


def build(config: PipelineConfig, run: RunReport | None = None) -> Report:
    """Everything the report shows, read from the workspace (and the run's outcome, if given)."""
    workspace = Workspace(config.workspace)
    table, dropped = summary(workspace.root), drops(workspace.root)
    videos = _tables(workspace.manifest("videos"), ["video_id", "location", "camera"])
    tracklets = _tables(
        workspace.manifest("tracklet_summary"), ["video_id", "n_boxes", "duration_s"]
    )
    crops = _tables(
        workspace.stage_folder("anonymize"),
        [
            "video_id",
            "crop_path",
            "audit_passed",
            "audit_face_score",
            "audit_escalations",
            "refused",
        ],
    )
    links = _Links(workspace)
    failures = dict(run.failed) if run else {}
    done = {(s, v) for s, v in run.done} if run else set()
    skipped = {(s, v) for s, v in run.skipped} if run else set()

    def video_part(video_id: str) -> VideoPart:
        row = table.loc[video_id] if video_id in table.index else None
        lengths = tracklets[tracklets["video_id"] == video_id]
        this_run = {
            stage: "computed" if (stage, video_id) in done else "up to date"
            for stage in STAGES
            if (stage, video_id) in done | skipped
        }
        failure = failures.get(video_id)
        return VideoPart(
            video_id,
            Figures(
                counts={c: int(row[c]) if row is not None else 0 for c in SUMMARY_COLUMNS},
                dropped={
                    r: int(dropped.at[video_id, r]) if video_id in dropped.index else 0
                    for r in DROP_REASONS
                },
                seconds=_seconds(workspace, video_id),
                audit=Audit.of(crops[crops["video_id"] == video_id]),
                lengths=[int(n) for n in lengths["n_boxes"]],
                durations=[round(float(d), 3) for d in lengths["duration_s"]],
            ),
            links.existing(
                [(name, workspace.manifest(name) / f"{video_id}.parquet") for name in MANIFESTS]
            ),
            failure=f"stage {failure[0]}: {failure[1]}" if failure else None,
            this_run=this_run,
        )

    # Videos of the pipeline that have no ingest result yet (their ingest failed) are listed under
    # their camera too, so that a failure is shown where it happened.
    ingested = set(videos["video_id"])
    places = videos[["video_id", "location", "camera"]].to_dict("records") + [
        {"video_id": v.video_id, "location": config.location.name, "camera": v.camera}
        for v in config.videos
        if v.video_id not in ingested
    ]
    locations = []
    for location in sorted({p["location"] for p in places}):
        cameras = []
        here = [p for p in places if p["location"] == location]
        for camera in sorted({p["camera"] for p in here}):
            parts = [video_part(p["video_id"]) for p in here if p["camera"] == camera]
            parts.sort(key=lambda part: part.video_id)
            cameras.append(
                CameraPart(
                    camera,
                    _sum([p.figures for p in parts]),
                    parts,
                    links.existing([("crops", workspace.camera_crop_root(location, camera))]),
                )
            )
        locations.append(LocationPart(location, _sum([c.figures for c in cameras]), cameras))
    total = table.loc["TOTAL"]
    manifest_links = links.existing([(name, workspace.manifest(name)) for name in MANIFESTS])
    manifest_links += links.existing(
        [
            ("privacy audit (audit-privacy)", workspace.root / "audit"),
            ("location settings", workspace.location_file(config.location.name)),
        ]
    )
    return Report(
        workspace=workspace.root,
        pipeline=str(config.source),
        total={c: int(total[c]) for c in SUMMARY_COLUMNS},
        figures=_sum([loc.figures for loc in locations]),
        locations=locations,
        manifests=manifest_links,
        failures=failures,
        missing=sorted(config_id for config_id in {v.video_id for v in config.videos} - ingested),
        computed=len(run.done) if run else None,
        up_to_date=len(run.skipped) if run else None,
    )


def render(report: Report) -> str:
    environment = Environment(
        loader=FileSystemLoader(_TEMPLATES),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template("report.html").render(
        report=report,
        stages=STAGES,
        reasons=DROP_REASONS,
        columns=SUMMARY_COLUMNS,
    )


# ------------------------------------------------------------------------------- the ROI overlays

OverlayMaker = Callable[[PipelineConfig, str], bytes]


def roi_overlays() -> OverlayMaker:
    """What makes each camera's ROI overlay: a JPEG of the camera's first frame with its ROI and
    the filter's verdict on each box, every detected person blurred and the frame face-audited
    (``tools.frames``: never a raw frame). The models, loaded on first use, serve every
    camera."""
    models: frames.FrameModels | None = None

    def make(config: PipelineConfig, camera: str) -> bytes:
        nonlocal models
        models = models or frames.frame_models(config)
        # `roi preview`'s image of the camera's first frame (the drawing audited as written)
        data, _, _ = preview_frame(config, camera, None, 0, image_format="jpg", models=models)
        return data

    return make


def _overlays(report: Report, config: PipelineConfig, make: OverlayMaker) -> None:
    """Write each camera's ROI overlay of the pipeline's location; a camera without one says
    why (no footage, a refused frame) instead of failing the report."""
    folder = Workspace(config.workspace).report_folder()
    ours = {camera.id for camera in config.cameras}
    for location in report.locations:
        for camera in location.cameras:
            target = folder / "roi" / location.location / f"{camera.camera}.jpg"
            if location.location != config.location.name or camera.camera not in ours:
                camera.overlay_note = "not a camera of this run's pipeline"
                continue
            try:
                data = make(config, camera.camera)
            except Exception as exc:  # any reason at all: the report goes on without this image
                # An older run's overlay is never shown as this one's.
                target.unlink(missing_ok=True)
                camera.overlay_note = f"no ROI overlay: {exc}"
                continue
            write_if_changed(target, data)
            camera.overlay = urllib.parse.quote(target.relative_to(folder).as_posix())


def write_report(
    config: PipelineConfig, run: RunReport | None = None, overlay: OverlayMaker | None = None
) -> Path:
    """Write ``WORKSPACE/report/index.html`` and its ROI overlays (``overlay``; default:
    ``roi_overlays()``), each file atomically; returns the page's path."""
    report = build(config, run)
    _overlays(report, config, overlay or roi_overlays())
    target = Workspace(config.workspace).report_folder() / PAGE
    write_if_changed(target, render(report).encode("utf-8"))
    return target


def remove_report(root: Path) -> None:
    """Remove the report's page (after a failed write: an older run's page must not pass for this
    run's); never raises."""
    try:
        (Workspace(root).report_folder() / PAGE).unlink(missing_ok=True)
    except OSError:
        pass
