"""The driver: a run over every video of a pipeline, on an executor, under the workspace lock.

Problems of the whole run (a bad ROI file, a missing model) stop it before any work; a failing
video is reported and does not stop the others.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cyclist_dataset.core.config import PipelineConfig
from cyclist_dataset.errors import UserError
from cyclist_dataset.io import progress
from cyclist_dataset.io.atomic import write_if_changed
from cyclist_dataset.pipeline.executors import Executor, LocalExecutor
from cyclist_dataset.pipeline.unit import STAGE_NAMES, context_for


@dataclass
class RunReport:
    done: list[tuple[str, str]] = field(default_factory=list)  # (stage, video_id) computed
    skipped: list[tuple[str, str]] = field(default_factory=list)  # up to date
    failed: dict[str, tuple[str, str]] = field(default_factory=dict)  # video_id -> (stage, message)


def run_pipeline(
    config: PipelineConfig,
    stages: tuple[str, ...] = STAGE_NAMES,
    force: bool = False,
    log: Callable[[str], None] = progress.write,
    executor: Executor | None = None,
) -> RunReport:
    """Run the selected stages over every video of the pipeline, one work unit per video, on an
    executor (default: in this process, one video after another)."""
    unknown = [s for s in stages if s not in STAGE_NAMES]
    if unknown:
        raise UserError(f"unknown stage(s) {unknown}; stages are {', '.join(STAGE_NAMES)}")
    ctx = context_for(config)
    # Problems of the whole run stop it before any work: a bad ROI file, a missing model file.
    if "filter" in stages:
        for camera in config.cameras:
            ctx.roi(camera.id)
    if "detect" in stages:
        _ = ctx.weights_sha256  # hashes the model file; a missing one raises ConfigError
    if "anonymize" in stages:
        _ = ctx.face_models_sha256  # likewise for the face models of face blur and the audit
        if not config.anonymize.audit.enabled:
            log(
                "WARNING: the privacy audit is off ([anonymize] audit = { enabled = false }): no "
                "crop is checked for a face before it is written, and `release create` refuses "
                "these crops (unless --allow-unaudited, which marks the release unaudited)"
            )
    executor = executor or LocalExecutor()
    report = RunReport()
    video_ids = [v.video_id for v in config.videos]
    with (
        ctx.workspace.locked(),
        # log lines print above this bar when `log` is progress.write (the default, the CLI's)
        progress.task("videos", len(video_ids), "video") as overall,
    ):
        _record_location(ctx.workspace.location_file(config.location.name), config)
        started, frames = time.perf_counter(), 0
        for result in executor.run(config, video_ids, stages, force):
            for line in result.log:
                log(line)
            report.done += [(stage, result.video_id) for stage in result.done]
            report.skipped += [(stage, result.video_id) for stage in result.skipped]
            if result.failed:
                report.failed[result.video_id] = result.failed
            frames += result.frames
            overall.note(f"{frames / (time.perf_counter() - started):.1f} frames/s")
            overall.update()
    return report


def _record_location(path: Path, config: PipelineConfig) -> None:
    """Keep the location's settings in the workspace; a rerun with the same ones writes nothing
    (a run with nothing to do changes no file)."""
    text = json.dumps(location_settings(config), indent=2, sort_keys=True) + "\n"
    write_if_changed(path, text.encode("utf-8"))


def location_settings(config: PipelineConfig) -> dict:
    """What the workspace keeps of a location's settings for the labelling side."""
    return {
        **config.location.model_dump(mode="json"),
        "cameras": [camera.id for camera in config.cameras],
    }
