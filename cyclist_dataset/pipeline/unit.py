"""One work unit: the selected stages of one video, in order, skipping finished work.

A stage result is fresh only if (1) the fingerprint in its file matches the fingerprint of its
current inputs (upstream results, input file, ROI file) and parameters (the stage's whole config
section, model file hashes and code version), (2) every table it writes beside the result carries
that fingerprint too, and (3) every file the result lists (the anonymize stage's crops) is on disk.
``is_fresh`` is the one place that decides this. A stage whose upstream was recomputed in this
run is recomputed as well, so a repaired result never leaves stale tables downstream.
"""

from __future__ import annotations

import functools
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cyclist_dataset.core.config import ImportConfig, PipelineConfig, VideoConfig
from cyclist_dataset.core.roi import Roi, load_roi
from cyclist_dataset.errors import ConfigError, UserError
from cyclist_dataset.io import video
from cyclist_dataset.io.faults import kill_point
from cyclist_dataset.io.hashing import fingerprint, sha256_of
from cyclist_dataset.io.workspace import (
    COMPUTE_SECONDS,
    STAGE_OUTPUT,
    Workspace,
    read_fingerprint,
    read_result,
    write_result,
)
from cyclist_dataset.stages import anonymize, detect, ingest, split, track
from cyclist_dataset.stages import filter as filter_stage
from cyclist_dataset.stages.anonymize import faces
from cyclist_dataset.stages.detect.imported import VideoShape, import_file

INPUT_KEY = b"cyclist_dataset.input_key"


class Context:
    """What the stages of one run share: the config, the workspace, and lazily loaded
    models/ROIs."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.workspace = Workspace(config.workspace)
        self._detector: detect.Detector | None = None
        self._rois: dict[str, Roi] = {}
        self._video_sha256: dict[str, str] = {}

    @property
    def detector(self) -> detect.Detector:
        if self._detector is None:
            try:
                self._detector = detect.make_detector(self.config.detect, self.config.runtime)
            except (
                UserError
            ) as exc:  # the model is the run's, not one video's problem: stop the run
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
        """The face models the anonymize stage runs (face blur, audit): a new model file redoes the
        crops."""
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

    def scaled_roi(self, camera: str, meta: dict) -> Roi:
        return self.roi(camera).scaled_to(
            meta["width"], meta["height"], str(self.config.roi_path(camera))
        )

    def video_sha256(self, video_: VideoConfig) -> str:
        """The video file's SHA-256: taken from its ingest result while the file's path, size,
        mtime and inode are unchanged (no re-hashing of unchanged footage), else hashed."""
        path = video.require_file(video_.source_path())
        key = _input_key(path)
        if key not in self._video_sha256:
            stored = self.workspace.stage_output("ingest", video_.video_id)
            digest = None
            if _stored_input_key(stored) == key:
                try:
                    digest = pq.read_table(stored, columns=["sha256"]).column(0)[0].as_py()
                except (OSError, pa.ArrowInvalid, KeyError, IndexError):
                    digest = None
            self._video_sha256[key] = digest or sha256_of(path)
        return self._video_sha256[key]

    def read(self, stage: str, video_id: str) -> pa.Table:
        return read_result(self.workspace.stage_output(stage, video_id))

    def video_row(self, video_id: str) -> dict:
        return self.read("ingest", video_id).to_pylist()[0]


# ------------------------------------------------------------- the stages, as the driver calls them
# Each takes the context and one video and returns the stage's table and extra metadata; the
# stage functions themselves (stages/) take typed inputs and never see the workspace's layout.


def _ingest(ctx: Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    table = ingest.ingest_video(
        video_.source_path(),
        video_.video_id,
        ctx.config.location.name,
        video_.camera,
        video_.source_name,
        ctx.config.video_start_utc(video_),
        sha256=ctx.video_sha256(video_),
    )
    return table.replace_schema_metadata({INPUT_KEY: _input_key(video_.source_path()).encode()}), {}


def _detect(ctx: Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    meta, config = ctx.video_row(video_.video_id), ctx.config.detect
    if isinstance(config, ImportConfig):
        shape = VideoShape(meta["width"], meta["height"], meta["fps"], meta["frame_count"])
        sampled = None
        if config.sample_fps is not None:
            sampled = track.detector_frames(meta["fps"], meta["frame_count"], config.sample_fps)[0]
        path = import_file(config, video_.video_id, video_.source_name)
        table, found = detect.import_detections(path, config, video_.video_id, shape, sampled)
        return table, {"model": found.source, "classes_left_out": found.left_out}
    frames = video.frames(
        Path(meta["path"]),
        meta["fps"],
        sample_fps=config.sample_fps,
        frame_count=meta["frame_count"],
    )
    expected = meta["frame_count"] * min(1.0, (config.sample_fps or meta["fps"]) / meta["fps"])
    table = detect.detect_frames(
        frames, ctx.detector, video_.video_id, config, ctx.config.runtime, total=round(expected)
    )
    return table, {"model": ctx.detector.identity}


def _filter(ctx: Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    roi = ctx.scaled_roi(video_.camera, ctx.video_row(video_.video_id))
    return filter_stage.filter_detections(
        ctx.read("detect", video_.video_id), roi, ctx.config.filter
    )


def _track(ctx: Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    # The ROI and filter rules let the low-score pass re-check boxes the filter dropped for their
    # score; gaps are filled at the frames the detector ran on.
    meta = ctx.video_row(video_.video_id)
    frames = track.detector_frames(meta["fps"], meta["frame_count"], ctx.config.detect.sample_fps)
    return track.track_video(
        ctx.read("filter", video_.video_id),
        ctx.config.track,
        ctx.config.location.name,
        video_.camera,
        roi=ctx.scaled_roi(video_.camera, meta),
        filter_config=ctx.config.filter,
        frames=frames,
    )


def _anonymize(ctx: Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    meta = ctx.video_row(video_.video_id)
    anonymize.remove_video_crops(ctx.workspace, meta["location"], meta["camera"], video_.video_id)
    kill_point("anonymize.cleared", video_.video_id)
    table = anonymize.write_crops(
        Path(meta["path"]),
        meta["fps"],
        meta["start_time"],
        ctx.read("track", video_.video_id),
        ctx.workspace,
        ctx.config.anonymize,
    )
    refused = table.num_rows - table.column("crop_path").drop_null().length()
    # Face detector and audit model identities (SHA-256) are in every row's `anonymization` JSON
    # and, through `face_models_sha256`, in the stage's fingerprint.
    return table, {"crops": table.num_rows, "audit_refused": refused}


def _split(ctx: Context, video_: VideoConfig) -> tuple[pa.Table, dict]:
    return split.split_crops(
        ctx.read("anonymize", video_.video_id), ctx.config.split, ctx.config.location.timezone
    )


def _section(name: str) -> Callable[[Context, VideoConfig], dict]:
    """A stage's parameters: its whole config section (every key of it can change the output)."""
    return lambda ctx, video_: {name: getattr(ctx.config, name).model_dump(mode="json")}


def _ingest_params(ctx: Context, video_: VideoConfig) -> dict:
    # The content hash makes every downstream fingerprint follow a replaced video file.
    return {
        "source": video_.source_name,
        "camera": video_.camera,
        "location": ctx.config.location.name,
        "start_time": ctx.config.video_start_utc(video_).isoformat(),
        "sha256": ctx.video_sha256(video_),
    }


def _detect_params(ctx: Context, video_: VideoConfig) -> dict:
    params = {**_section("detect")(ctx, video_), "weights_sha256": ctx.weights_sha256}
    config = ctx.config.detect
    if isinstance(config, ImportConfig):
        # The imported file is the detector: its content decides the detections.
        path = import_file(config, video_.video_id, video_.source_name)
        params["import_sha256"] = sha256_of(path)
    return params


def _filter_params(ctx: Context, video_: VideoConfig) -> dict:
    roi_file = ctx.config.roi_path(video_.camera)
    return {
        **_section("filter")(ctx, video_),
        "roi_sha256": sha256_of(roi_file) if roi_file.is_file() else "missing",
    }


@dataclass(frozen=True)
class Stage:
    """How the driver runs one stage: what it needs, what decides its output, what it writes."""

    name: str
    # Bump when the stage's code changes what it writes: reruns then redo that stage.
    version: int
    upstream: tuple[str, ...]
    compute: Callable[[Context, VideoConfig], tuple[pa.Table, dict]]
    params: Callable[[Context, VideoConfig], dict]
    # Tables derived from the result and written beside it (paths: workspace.SIDE_OUTPUT).
    side_tables: tuple[tuple[str, Callable[[pa.Table], pa.Table]], ...] = ()
    # Workspace-relative files the result lists, and their SHA-256: a result is fresh only while
    # every one of them is on disk with exactly those bytes (a killed rerun may have replaced some).
    files_column: str | None = None
    hashes_column: str | None = None


STAGES: dict[str, Stage] = {
    stage.name: stage
    for stage in (
        Stage("ingest", 1, (), _ingest, _ingest_params),
        Stage(
            "detect",
            1,
            ("ingest",),
            _detect,
            _detect_params,
        ),
        Stage("filter", 2, ("detect",), _filter, _filter_params),
        Stage(
            "track",
            2,
            ("filter",),
            _track,
            _section("track"),
            side_tables=(("track", track.summarize_tracklets),),
        ),
        Stage(
            "anonymize",
            4,  # 3: crop_sha256; 4: the multi-scale audit, refused crops not written
            ("ingest", "track"),
            _anonymize,
            lambda ctx, v: {
                **_section("anonymize")(ctx, v),
                "face_models_sha256": ctx.face_models_sha256,
            },
            files_column="crop_path",
            hashes_column="crop_sha256",
        ),
        Stage(
            "split",
            1,
            ("anonymize",),
            _split,
            lambda ctx, v: {**_section("split")(ctx, v), "timezone": ctx.config.location.timezone},
        ),
    )
}
STAGE_NAMES = tuple(STAGES)
assert STAGE_NAMES == tuple(STAGE_OUTPUT), "every stage has an output folder, in pipeline order"


def _input_key(path: Path) -> str:
    """A video file's identity without reading it: a file copied over it changes one of these."""
    stat = path.stat()
    return fingerprint(str(path.resolve()), stat.st_size, stat.st_mtime_ns, stat.st_ino)


def _stored_input_key(ingest_result: Path) -> str | None:
    """The input key an ingest result was written with, or None if it has none or is unreadable."""
    try:
        metadata = pq.read_schema(ingest_result).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    value = metadata.get(INPUT_KEY)
    return value.decode() if value else None


def expected_fingerprint(ctx: Context, stage: Stage, video_: VideoConfig, params: dict) -> str:
    upstream = []
    for name in stage.upstream:
        found = read_fingerprint(ctx.workspace.stage_output(name, video_.video_id))
        if found is None:
            raise UserError(
                f"stage {stage.name} of video {video_.video_id} needs the {name} stage's result; "
                f"run with --stages {name},{stage.name} (or all stages)"
            )
        upstream.append(found)
    return fingerprint(stage.name, stage.version, params, upstream)


def is_fresh(ctx: Context, stage: Stage, video_: VideoConfig, expected: str) -> bool:
    """Whether the stored result of ``stage`` for this video is complete and current."""
    target = ctx.workspace.stage_output(stage.name, video_.video_id)
    if read_fingerprint(target) != expected:
        return False
    if any(
        read_fingerprint(ctx.workspace.side_output(name, video_.video_id)) != expected
        for name, _ in stage.side_tables
    ):
        return False
    if stage.files_column is not None and not _files_intact(ctx, target, stage):
        return False
    if stage.name == "ingest":
        # The input file itself (path, size, mtime, inode), without re-hashing its content.
        try:
            return _stored_input_key(target) == _input_key(video_.source_path())
        except (OSError, UserError):
            return False
    return True


def _files_intact(ctx: Context, result: Path, stage: Stage) -> bool:
    """Every file a result lists is on disk, with the bytes the result recorded (when it did)."""
    assert stage.files_column is not None
    columns = [stage.files_column] + ([stage.hashes_column] if stage.hashes_column else [])
    schema_names = pq.read_schema(result).names
    table = pq.read_table(result, columns=[c for c in columns if c in schema_names])
    paths = table.column(stage.files_column).to_pylist()
    hashes = (
        table.column(stage.hashes_column).to_pylist()
        if stage.hashes_column in table.column_names
        else [None] * len(paths)
    )
    for relative, digest in zip(paths, hashes, strict=True):
        if relative is None:  # a row without a file (a crop the privacy audit refused)
            continue
        path = ctx.workspace.root / relative
        if not path.is_file() or (digest is not None and sha256_of(path) != digest):
            return False
    return True


def run_stage(ctx: Context, stage: Stage, video_: VideoConfig, force: bool) -> pa.Table | None:
    """Compute one stage for one video unless its result is fresh; None when skipped."""
    stage_params = stage.params(ctx, video_)  # once: it may hash files (ROI, models, the video)
    expected = expected_fingerprint(ctx, stage, video_, stage_params)
    if not force and is_fresh(ctx, stage, video_, expected):
        return None
    started = time.perf_counter()
    table, extra = stage.compute(ctx, video_)
    # Stored beside the parameters for the run report, after the fingerprint was taken.
    seconds = round(time.perf_counter() - started, 3)
    kill_point(stage.name, video_.video_id)
    params = {**stage_params, **extra, COMPUTE_SECONDS: seconds}
    # Side tables first: a crash between the writes leaves the stage unfinished.
    for name, derive in stage.side_tables:
        write_result(
            derive(table), ctx.workspace.side_output(name, video_.video_id), expected, params
        )
    if stage.side_tables:
        kill_point(f"{stage.name}.side", video_.video_id)
    write_result(table, ctx.workspace.stage_output(stage.name, video_.video_id), expected, params)
    return table


@dataclass
class VideoResult:
    """What one work unit (all selected stages of one video) did; small and picklable for
    executors."""

    video_id: str
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: tuple[str, str] | None = None  # (stage, message)
    log: list[str] = field(default_factory=list)
    frames: int = 0


# One context per process and config: a worker loads its models once and reuses them for every
# video.
_contexts: dict[str, Context] = {}


def context_for(config: PipelineConfig) -> Context:
    key = fingerprint(config.model_dump(mode="json"))
    if key not in _contexts:
        _contexts.clear()
        _contexts[key] = Context(config)
    return _contexts[key]


def run_video(
    config: PipelineConfig, video_id: str, stages: tuple[str, ...], force: bool
) -> VideoResult:
    """The work unit: the selected stages of one video, in order, stopping at its first failure.

    Raises ConfigError (a problem of the whole run); every other error is the video's and is
    returned.
    """
    ctx = context_for(config)
    video_ = next(v for v in config.videos if v.video_id == video_id)
    result = VideoResult(video_id)
    for stage in (s for name, s in STAGES.items() if name in stages):
        # A recomputed upstream result redoes this stage too (a repaired anonymize result redoes the
        # split). Ingest is the exception: it recomputes when the file's mtime changed, and its
        # fingerprint holds the content hash, so a changed video changes every fingerprint below it.
        redo = force or any(name in result.done for name in stage.upstream if name != "ingest")
        try:
            table = run_stage(ctx, stage, video_, redo)
        except ConfigError:
            raise
        except UserError as exc:
            result.failed = (stage.name, str(exc))
            result.log.append(f"{stage.name:>9}  {video_id}: FAILED: {exc}")
            break
        except (
            Exception
        ) as exc:  # a bug or an unexpected input: report it, keep the other videos going
            result.failed = (stage.name, f"{type(exc).__name__}: {exc}")
            result.log.append(
                f"{stage.name:>9}  {video_id}: FAILED with an unexpected error:\n"
                f"{traceback.format_exc()}"
            )
            break
        if table is None:
            result.skipped.append(stage.name)
        else:
            result.done.append(stage.name)
            result.log.append(f"{stage.name:>9}  {video_id}: {table.num_rows} rows")
    ingested = ctx.workspace.stage_output("ingest", video_id)
    if ingested.is_file():
        result.frames = int(read_result(ingested).column("frame_count")[0].as_py())
    return result
