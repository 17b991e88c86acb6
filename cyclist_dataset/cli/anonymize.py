"""`cyclist-dataset anonymize-video` and `audit-privacy`: blur whole videos, audit a workspace."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cyclist_dataset.cli.app import app
from cyclist_dataset.errors import UserError


class Method(StrEnum):
    median = "median"
    gaussian = "gaussian"
    average = "average"
    face = "face"


@app.command("anonymize-video")
def anonymize_video(
    input: Annotated[Path, typer.Argument(metavar="INPUT", help="The video to anonymize.")],
    output: Annotated[
        Path,
        typer.Argument(
            metavar="OUTPUT",
            help="Where to write the anonymized copy "
            "(.mp4 or .mov: MPEG-4; .avi or .mkv: Motion JPEG).",
        ),
    ],
    method: Annotated[
        Method | None,
        typer.Option(
            help="median | gaussian | average: blur each whole person; face: blur faces and, "
            "where none is found, the head region. Default: the pipeline's anonymize.method, "
            "else median."
        ),
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(
            help="Take the detect, track and anonymize sections from this pipeline file. Default: "
            "YOLOX-nano on every frame, the thesis's blur (5 px at 128 px, scaled with each "
            "person)."
        ),
    ] = None,
    sample_fps: Annotated[
        float | None,
        typer.Option(
            help="Run the person detector on this many frames per second only; the tracker "
            "carries each person's box through the frames in between. Default: the pipeline's, "
            "else every frame."
        ),
    ] = None,
    margin: Annotated[
        float,
        typer.Option(
            help="Grow every person box by this fraction of its width and height on each side."
        ),
    ] = 0.1,
    audit: Annotated[
        bool,
        typer.Option(
            help="Afterwards, run the privacy audit's face detectors over sampled frames of the "
            "output; exit with status 1 if one still shows a face."
        ),
    ] = True,
    audit_fps: Annotated[float, typer.Option(help="Frames per second the audit checks.")] = 1.0,
) -> None:
    """Write a copy of a video with every detected person blurred in every frame.

    Persons are detected (YOLOX or Faster R-CNN, as in the pipeline's [detect] section) and tracked;
    frames between two detections get boxes interpolated along each track, so no frame is skipped.
    The copy has the input's frame count, size and frame rate, and is written atomically."""
    from cyclist_dataset.core.config import (
        AnonymizeConfig,
        RuntimeConfig,
        TrackConfig,
        YoloxConfig,
        load_pipeline,
    )
    from cyclist_dataset.tools.anonymize_video import anonymize_video_file
    from cyclist_dataset.tools.privacy_audit import audit_video

    if margin < 0 or sample_fps is not None and sample_fps <= 0 or audit_fps <= 0:
        raise UserError("--margin must be >= 0, --sample-fps and --audit-fps > 0")
    if not input.is_file():
        raise UserError(f"input video not found: {input}")
    if pipeline is not None:
        config = load_pipeline(pipeline, Path("."))
        detect_config, track_config, anonymize_config = (
            config.detect,
            config.track,
            config.anonymize,
        )
        runtime = config.runtime
    else:
        detect_config, track_config, anonymize_config = (
            YoloxConfig(),
            TrackConfig(),
            AnonymizeConfig(),
        )
        runtime = RuntimeConfig()
    if method is not None:
        anonymize_config = anonymize_config.model_copy(update={"method": method.value})
    if sample_fps is not None:
        detect_config = detect_config.model_copy(update={"sample_fps": sample_fps})
    result = anonymize_video_file(
        input, output, anonymize_config, detect_config, track_config, margin=margin, runtime=runtime
    )
    typer.echo(
        f"wrote {result.output}: {result.frames} frames at {result.fps:g} fps, "
        f"{result.boxes_detected} person boxes detected in {result.tracks} track(s), "
        f"{result.boxes_blurred} person regions blurred ({anonymize_config.method})"
    )
    if audit:
        frames = audit_video(result.output, anonymize_config.audit, sample_fps=audit_fps)
        failed = frames[~frames["audit_passed"]]
        typer.echo(
            f"privacy audit: {len(frames)} sampled frames, {len(failed)} with a detectable face "
            f"(highest score {frames['audit_face_score'].max():.2f} of the threshold)"
        )
        if len(failed):
            typer.echo(
                "frames with a face: " + ", ".join(str(i) for i in failed["frame_index"]), err=True
            )
            raise typer.Exit(1)


@app.command("audit-privacy")
def audit_privacy(
    workspace: Annotated[
        Path,
        typer.Argument(
            metavar="WORKSPACE", help="A pipeline workspace (its crops/ folder is audited)."
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            help="Where to write privacy_audit.parquet and worst_offenders.png; "
            "default WORKSPACE/audit."
        ),
    ] = None,
    pipeline: Annotated[
        Path | None,
        typer.Option(
            help="Take the audit settings (section anonymize.audit) from this pipeline file."
        ),
    ] = None,
    centerface_threshold: Annotated[
        float | None, typer.Option(help="Override CenterFace's audit threshold.")
    ] = None,
    yunet_threshold: Annotated[
        float | None, typer.Option(help="Override YuNet's audit threshold.")
    ] = None,
    worst: Annotated[
        int, typer.Option(help="How many of the highest-scoring crops the contact sheet shows.")
    ] = 24,
    every_file: Annotated[
        bool,
        typer.Option(
            help="Scan every file in the workspace (any name, temporary files included), "
            "not only crops/."
        ),
    ] = False,
) -> None:
    """Run face detectors (CenterFace and YuNet, at the audit's sensitive thresholds) over every
    crop image in a workspace, temporary files included. Prints per camera the share of crops in
    which a face is still detectable, writes a per-file report and a contact sheet of the worst
    offenders, and exits with status 1 if any crop shows a face."""
    from cyclist_dataset.core.config import AuditConfig, load_pipeline
    from cyclist_dataset.tools.privacy_audit import audit_workspace

    if not workspace.is_dir():
        raise UserError(f"workspace not found: {workspace}")
    config = (
        load_pipeline(pipeline, workspace).anonymize.audit
        if pipeline is not None
        else AuditConfig()
    )
    overrides = {
        k: v
        for k, v in (
            ("centerface_threshold", centerface_threshold),
            ("yunet_threshold", yunet_threshold),
        )
        if v is not None
    }
    if overrides:
        try:
            config = AuditConfig.model_validate({**config.model_dump(), **overrides})
        except ValueError as exc:
            raise UserError(f"invalid threshold: {exc}") from None
    report = audit_workspace(workspace, config, output, worst=worst, every_file=every_file)
    if report.crops.empty:
        raise UserError(
            f"no crop images under {workspace / 'crops'}"
            + ("" if every_file else " (try --every-file)")
        )
    table = report.per_camera.copy()
    typer.echo(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    total, failed = int(report.crops["readable"].sum()), int((~report.crops["audit_passed"]).sum())
    typer.echo(
        f"\n{total} image(s) audited, {failed} with a detectable face "
        f"({failed / max(total, 1):.1%}); "
        f"{int((~report.crops['readable']).sum())} file(s) hold no decodable image"
    )
    typer.echo(f"report: {report.report_path}")
    if report.contact_sheet_path is not None:
        typer.echo(f"worst offenders: {report.contact_sheet_path}")
    if failed:
        raise typer.Exit(1)
