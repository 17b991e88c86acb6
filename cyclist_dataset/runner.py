"""Runs the stages in order, per video, skipping finished work and redoing what changed.

A stage result is trusted only if the fingerprint in its file matches the fingerprint of its
current inputs (upstream results, input file, ROI file) and parameters (the stage's config
section and code version). A failing video is reported and does not stop the others.
"""

from __future__ import annotations

import functools
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from cyclist_dataset import anonymize, assets, detect, faces, filter as filter_stage, ingest, split, track, video
from cyclist_dataset.config import PipelineConfig, VideoConfig
from cyclist_dataset.errors import ConfigError, UserError
from cyclist_dataset.roi import Roi, load_roi
from cyclist_dataset.workspace import (STAGE_OUTPUT, Workspace, fingerprint, read_fingerprint,
                                       read_result, write_result)

if TYPE_CHECKING:
    from cyclist_dataset.executors import Executor

STAGES = tuple(STAGE_OUTPUT)
# Bump a stage's version when its code changes what it writes: reruns then redo that stage.
STAGE_VERSION = {"ingest": 1, "detect": 1, "filter": 2, "track": 2, "anonymize": 2, "split": 1}
UPSTREAM = {"ingest": (), "detect": ("ingest",), "filter": ("detect",), "track": ("filter",),
            "anonymize": ("ingest", "track"), "split": ("anonymize",)}
INPUT_KEY = b"cyclist_dataset.input_key"


@dataclass
class RunReport:
    done: list[tuple[str, str]] = field(default_factory=list)  # (stage, video_id) computed
    skipped: list[tuple[str, str]] = field(default_factory=list)  # up to date
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # video_id -> (stage, message)


def source_path(video_: VideoConfig) -> Path:
    """The file of a pipeline video: its registry asset (hash-checked) or its path."""
    return assets.path(video_.asset) if video_.asset is not None else Path(video_.path)


class _Context:
    """What the stages of one run share: the config, the workspace, and lazily loaded models/ROIs."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.workspace = Workspace(config.workspace)
        self._detector: detect.Detector | None = None
        self._rois: dict[str, Roi] = {}

    @property
    def detector(self) -> detect.Detector:
        if self._detector is None:
            try:
                self._detector = detect.make_detector(self.config.detect)
            except UserError as exc:  # the model is the run's, not one video's problem: stop the run
                raise ConfigError(f"{self.config.source}: [detect]: {exc}") from None
        return self._detector

    @functools.cached_property
    def weights_sha256(self) -> str:
        try:
            return detect.weights_sha256(self.config.detect)
        except UserError as exc:
            raise ConfigError(f"{self.config.source}: [detect]: {exc}") from None

    @functools.cached_property
    def face_models_sha256(self) -> dict[str, str]:
        """The face models the anonymize stage runs (face blur, audit): a new model file redoes the crops."""
        config = self.config.anonymize
        names = set(config.face_detectors if config.method == "face" else ())
        names |= set(config.audit.detectors if config.audit.enabled else ())
        try:
            return {name: faces.model_sha256(name) for name in sorted(names)}
        except UserError as exc:
            raise ConfigError(f"{self.config.source}: [anonymize]: {exc}") from None

    def roi(self, camera: str) -> Roi:
        if camera not in self._rois:
            self._rois[camera] = load_roi(self.config.roi_path(camera))
        return self._rois[camera]

    def read(self, stage: str, video_id: str) -> pa.Table:
        return read_result(self.workspace.stage_output(stage, video_id))

    def video_row(self, video_id: str) -> dict:
        return self.read("ingest", video_id).to_pylist()[0]


def _input_key(path: Path) -> str:
    stat = path.stat()
    return fingerprint(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


def _ingest(ctx: _Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    table = ingest.ingest_video(source_path(video_), video_.video_id, ctx.config.location.name, video_.camera,
                                video_.source_name, ctx.config.video_start_utc(video_))
    return table, {}


def _detect(ctx: _Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    meta, config = ctx.video_row(video_.video_id), ctx.config.detect
    frames = video.frames(Path(meta["path"]), meta["fps"], sample_fps=config.sample_fps)
    expected = meta["frame_count"] * min(1.0, (config.sample_fps or meta["fps"]) / meta["fps"])
    table = detect.detect_frames(frames, ctx.detector, video_.video_id, config, total=round(expected))
    return table, {"model": ctx.detector.identity}


def _filter(ctx: _Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    meta = ctx.video_row(video_.video_id)
    roi = ctx.roi(video_.camera).scaled_to(meta["width"], meta["height"], str(ctx.config.roi_path(video_.camera)))
    return filter_stage.filter_detections(ctx.read("detect", video_.video_id), roi, ctx.config.filter)


def _track(ctx: _Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    # The ROI and filter rules let the low-score pass re-check boxes the filter dropped for their score;
    # gaps are filled at the frames the detector ran on.
    meta = ctx.video_row(video_.video_id)
    roi = ctx.roi(video_.camera).scaled_to(meta["width"], meta["height"], str(ctx.config.roi_path(video_.camera)))
    frames = track.detector_frames(meta["fps"], meta["frame_count"], ctx.config.detect.sample_fps)
    return track.track_video(ctx.read("filter", video_.video_id), ctx.config.track, ctx.config.location.name,
                             video_.camera, roi=roi, filter_config=ctx.config.filter, frames=frames)


def _anonymize(ctx: _Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    meta = ctx.video_row(video_.video_id)
    anonymize.remove_video_crops(ctx.workspace, meta["location"], meta["camera"], video_.video_id)
    table = anonymize.write_crops(Path(meta["path"]), meta["fps"], meta["start_time"],
                                  ctx.read("track", video_.video_id), ctx.workspace, ctx.config.anonymize)
    audited = table.column("audit_passed").drop_null()
    failed = len(audited) - sum(audited.to_pylist())
    # Face detector and audit model identities (SHA-256) are in every row's `anonymization` JSON
    # and, through `face_models_sha256`, in the stage's fingerprint.
    return table, {"crops": table.num_rows, "audit_failed": failed}


def _split(ctx: _Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    return split.split_crops(ctx.read("anonymize", video_.video_id), ctx.config.split, ctx.config.location.timezone)


# Tables derived from a stage's result and written beside it (paths: workspace.SIDE_OUTPUT).
SIDE_TABLES: dict[str, Callable[[pa.Table], pa.Table]] = {"track": track.summarize_tracklets}

STAGE_FUNCTIONS: dict[str, Callable[[_Context, VideoConfig], tuple[pa.Table, dict]]] = {
    "ingest": _ingest, "detect": _detect, "filter": _filter, "track": _track,
    "anonymize": _anonymize, "split": _split,
}


def _stage_params(ctx: _Context, stage: str, video_: VideoConfig) -> dict:
    config = ctx.config
    if stage == "ingest":
        return {"source": video_.source_name, "camera": video_.camera, "location": config.location.name,
                "start_time": config.video_start_utc(video_).isoformat()}
    if stage == "filter":
        roi_file = config.roi_path(video_.camera)
        roi_hash = assets.sha256_of(roi_file) if roi_file.is_file() else "missing"
        return {"filter": config.filter.model_dump(mode="json"), "roi_sha256": roi_hash}
    if stage == "detect":  # the model file's content, not just its name, decides the result
        return {"detect": config.detect.identity_params, "weights_sha256": ctx.weights_sha256}
    if stage == "anonymize":
        return {"anonymize": config.anonymize.model_dump(mode="json"), "face_models_sha256": ctx.face_models_sha256}
    if stage == "split":
        return {"split": config.split.model_dump(mode="json"), "timezone": config.location.timezone}
    section = getattr(config, stage)
    return {stage: section.model_dump(mode="json")}


def _expected_fingerprint(ctx: _Context, stage: str, video_: VideoConfig) -> str:
    upstream = []
    for name in UPSTREAM[stage]:
        found = read_fingerprint(ctx.workspace.stage_output(name, video_.video_id))
        if found is None:
            raise UserError(f"stage {stage} of video {video_.video_id} needs the {name} stage's result; "
                            f"run with --stages {name},{stage} (or all stages)")
        upstream.append(found)
    return fingerprint(stage, STAGE_VERSION[stage], _stage_params(ctx, stage, video_), upstream)


def _ingest_is_fresh(ctx: _Context, video_: VideoConfig, expected: str) -> bool:
    """Ingest also checks the input file itself (path, size, mtime) without re-hashing its content."""
    target = ctx.workspace.stage_output("ingest", video_.video_id)
    if read_fingerprint(target) != expected:
        return False
    metadata = pq.read_schema(target).metadata or {}
    try:
        return metadata.get(INPUT_KEY, b"").decode() == _input_key(source_path(video_))
    except (OSError, UserError):
        return False


def _maybe_inject_fault(stage: str, video_id: str) -> None:
    """Test hook: ``CYCLIST_DATASET_KILL_ONCE=MARKER_DIR:VIDEO_ID:STAGE`` kills this process (SIGKILL) the
    first time that stage of that video has computed its result but not yet written it."""
    spec = os.environ.get("CYCLIST_DATASET_KILL_ONCE")
    if not spec:
        return
    marker_dir, target_video, target_stage = spec.rsplit(":", 2)
    marker = Path(marker_dir) / f"killed-{target_video}-{target_stage}"
    if (video_id, stage) == (target_video, target_stage) and not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
        os.kill(os.getpid(), signal.SIGKILL)


def _run_unit(ctx: _Context, stage: str, video_: VideoConfig, force: bool) -> pa.Table | None:
    """Compute one stage for one video unless its result is up to date; None when skipped."""
    target = ctx.workspace.stage_output(stage, video_.video_id)
    expected = _expected_fingerprint(ctx, stage, video_)
    fresh = (_ingest_is_fresh(ctx, video_, expected) if stage == "ingest"
             else read_fingerprint(target) == expected)
    if fresh and not force:
        return None
    table, extra = STAGE_FUNCTIONS[stage](ctx, video_)
    _maybe_inject_fault(stage, video_.video_id)
    if stage == "ingest":
        table = table.replace_schema_metadata({INPUT_KEY: _input_key(source_path(video_)).encode()})
    params = {**_stage_params(ctx, stage, video_), **extra}
    if stage in SIDE_TABLES:  # first, so that a crash between the two writes leaves the stage unfinished
        write_result(SIDE_TABLES[stage](table), ctx.workspace.side_output(stage, video_.video_id), expected, params)
    write_result(table, target, expected, params)
    return table


@dataclass
class VideoResult:
    """What one work unit (all selected stages of one video) did; small and picklable for executors."""

    video_id: str
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: tuple[str, str] | None = None  # (stage, message)
    log: list[str] = field(default_factory=list)
    frames: int = 0


# One context per process and config: a worker loads its models once and reuses them for every video.
_contexts: dict[str, _Context] = {}


def context_for(config: PipelineConfig) -> _Context:
    key = fingerprint(config.model_dump(mode="json"))
    if key not in _contexts:
        _contexts.clear()
        _contexts[key] = _Context(config)
    return _contexts[key]


def run_video(config: PipelineConfig, video_id: str, stages: tuple[str, ...], force: bool) -> VideoResult:
    """The work unit: the selected stages of one video, in order, stopping at its first failure.

    Raises ConfigError (a problem of the whole run); every other error is the video's and is returned.
    """
    ctx = context_for(config)
    video_ = next(v for v in config.videos if v.video_id == video_id)
    result = VideoResult(video_id)
    for stage in (s for s in STAGES if s in stages):
        try:
            table = _run_unit(ctx, stage, video_, force)
        except ConfigError:
            raise
        except UserError as exc:
            result.failed = (stage, str(exc))
            result.log.append(f"{stage:>9}  {video_id}: FAILED: {exc}")
            break
        except Exception as exc:  # a bug or an unexpected input: report it, keep the other videos going
            result.failed = (stage, f"{type(exc).__name__}: {exc}")
            result.log.append(f"{stage:>9}  {video_id}: FAILED with an unexpected error:\n{traceback.format_exc()}")
            break
        if table is None:
            result.skipped.append(stage)
        else:
            result.done.append(stage)
            result.log.append(f"{stage:>9}  {video_id}: {table.num_rows} rows")
    ingested = ctx.workspace.stage_output("ingest", video_id)
    if ingested.is_file():
        result.frames = int(read_result(ingested).column("frame_count")[0].as_py())
    return result


def run_pipeline(config: PipelineConfig, stages: tuple[str, ...] = STAGES, force: bool = False,
                 log: Callable[[str], None] = print, executor: "Executor | None" = None) -> RunReport:
    """Run the selected stages over every video of the pipeline, one work unit per video, on an
    executor (default: in this process, one video after another)."""
    from cyclist_dataset.executors import LocalExecutor

    unknown = [s for s in stages if s not in STAGES]
    if unknown:
        raise UserError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGES)}")
    ctx = context_for(config)
    # Problems of the whole run stop it before any work: a bad ROI file, a missing model file.
    if "filter" in stages:
        for camera in config.cameras:
            ctx.roi(camera.id)
    if "detect" in stages:
        _ = ctx.weights_sha256  # hashes the model file; a missing one raises ConfigError
    if "anonymize" in stages:
        _ = ctx.face_models_sha256  # likewise for the face models of face blur and the audit
    executor = executor or LocalExecutor()
    report = RunReport()
    video_ids = [v.video_id for v in config.videos]
    with ctx.workspace.locked(), tqdm(total=len(video_ids), desc="videos", unit="video") as progress:
        started, frames = time.perf_counter(), 0
        for result in executor.run(config, video_ids, stages, force):
            for line in result.log:
                log(line)
            report.done += [(stage, result.video_id) for stage in result.done]
            report.skipped += [(stage, result.video_id) for stage in result.skipped]
            if result.failed:
                report.failed[result.video_id] = result.failed
            frames += result.frames
            progress.set_postfix(frames_per_s=f"{frames / (time.perf_counter() - started):.1f}", refresh=False)
            progress.update()
    return report
