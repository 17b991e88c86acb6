"""`cyclist-dataset roi`: check ROI files, preview them over real frames."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from cyclist_dataset.cli.app import HostOption, PipelineArg, PortOption, TokenOption, app
from cyclist_dataset.errors import UserError

roi_app = typer.Typer(
    help="Regions of interest: draw them in the browser, check the polygon files, preview them "
    "over real frames.",
    no_args_is_help=True,
)
app.add_typer(roi_app, name="roi")
FORMATS = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg"}  # --out suffix: image format


@roi_app.command("preview")
def roi_preview(
    pipeline: PipelineArg,
    camera: Annotated[str, typer.Option(help="Camera id, as in the pipeline's [[cameras]].")],
    out: Annotated[Path, typer.Option(help="Image file to write (.png or .jpg).")],
    frame: Annotated[int, typer.Option(help="Frame index in the video.")] = 0,
    video: Annotated[
        str | None, typer.Option(help="Video id; default: the camera's first video.")
    ] = None,
    raw: Annotated[
        bool,
        typer.Option(
            "--raw-unblurred-persons",
            help="Write the frame as recorded, persons NOT blurred (for a check where the blur "
            "hides what you need to see; the file then shows recognizable people: delete it "
            "after use).",
        ),
    ] = False,
) -> None:
    """Draw a camera's ROI polygons over a real frame, with the pipeline's boxes of that frame
    (its detector's, or its imported file's): green if the filter keeps them, red with the rule
    that drops them (class, score, aspect_ratio, width, roi). The dot on each box is the point
    tested against the ROI. Every detected person is blurred and the frame is audited for faces
    before it is written, as crops are."""
    from cyclist_dataset.core.config import load_pipeline
    from cyclist_dataset.io.atomic import write_bytes
    from cyclist_dataset.tools.roi_preview import preview_frame

    if out.suffix.lower() not in FORMATS:
        raise UserError(f"--out {out}: use a file name ending in .png or .jpg")
    config = load_pipeline(pipeline)
    if raw:
        typer.echo(
            f"WARNING: --raw-unblurred-persons: {out} shows persons unblurred; do not keep or "
            "share it",
            err=True,
        )
    data, found, reasons = preview_frame(
        config, camera, video, frame, raw=raw, image_format=FORMATS[out.suffix.lower()]
    )
    write_bytes(out, data)
    kept = sum(r is None for r in reasons)
    dropped = Counter(r for r in reasons if r is not None)
    typer.echo(
        f"{out}: {len(found)} boxes, {kept} kept"
        + "".join(f", {n} dropped by {reason}" for reason, n in sorted(dropped.items()))
    )


@roi_app.command("check")
def roi_check(
    pipeline: PipelineArg,
) -> None:
    """Validate the ROI file of every camera of a pipeline (points, polygons, image size) and
    compare it with the size of that camera's videos. Exits with status 1 if any is wrong."""
    from cyclist_dataset.core.config import load_pipeline
    from cyclist_dataset.core.roi import load_roi
    from cyclist_dataset.errors import RoiError
    from cyclist_dataset.io.video import probe

    config = load_pipeline(pipeline)
    failures = 0
    for camera in config.cameras:
        path = config.roi_path(camera.id)
        try:
            roi = load_roi(path)
        except RoiError as exc:
            failures += 1
            typer.echo(f"FAIL {camera.id}: {exc}", err=True)
            continue
        share = roi.area.area / (roi.image_width * roi.image_height)
        typer.echo(
            f"ok   {camera.id}: {path} ({roi.image_width}x{roi.image_height}, "
            f"{share:.0%} of the frame)"
        )
        for video in (v for v in config.videos if v.camera == camera.id):
            try:
                info = probe(video.source_path())
            except UserError as exc:
                typer.echo(f"     {video.video_id}: cannot check its size: {exc}", err=True)
                continue
            if (info.width, info.height) != (roi.image_width, roi.image_height):
                same_shape = (
                    abs(info.width / info.height - roi.image_width / roi.image_height) < 0.01
                )
                typer.echo(
                    f"     {video.video_id}: {info.width}x{info.height}, the polygons are scaled"
                    + ("" if same_shape else " and stretched (aspect ratios differ)")
                )
    if failures:
        raise typer.Exit(1)


@roi_app.command(
    "edit",
    help="Draw each camera's ROI in the browser over a real frame of its video, every detected "
    "person blurred (and the frame audited for faces, as crops are).\n\n"
    "Click to add the points of an include polygon (the road) or an exclude polygon (a "
    "sidewalk, a bus stop), drag points to move them; problems (crossing edges, points outside "
    "the frame) show as you draw, and the frame's boxes turn green where the filter keeps them "
    "and red with the rule that drops them. Save writes roi_dir/LOCATION/CAMERA.json, validated "
    "as `roi check` validates it, atomically.",
)
def roi_edit(
    pipeline: PipelineArg,
    camera: Annotated[
        str | None, typer.Option(help="Open this camera's editor (default: the camera list).")
    ] = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 0,
    token: TokenOption = None,
) -> None:
    """Serve the ROI editor (help: the decorator's text)."""
    from cyclist_dataset.core.config import load_pipeline
    from cyclist_dataset.web.server import serve_roi_editor

    serve_roi_editor(load_pipeline(pipeline), camera, host, port, token, echo=typer.echo)
