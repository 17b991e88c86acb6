"""`cyclist-dataset init`: a pipeline file for a new location from a folder of footage."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from cyclist_dataset.cli.app import app
from cyclist_dataset.errors import UserError


@app.command("init")
def init(
    folder: Annotated[
        Path,
        typer.Argument(help="The folder with the location's videos (searched recursively)."),
    ],
    location: Annotated[
        str, typer.Option(help="The location's name (letters, digits, '_' and '-').")
    ],
    timezone: Annotated[
        str,
        typer.Option(help="IANA zone of the recording clock, e.g. Europe/Berlin."),
    ] = "UTC",
    out: Annotated[
        Path | None,
        typer.Option(help="The pipeline file to write. Default: LOCATION.toml here."),
    ] = None,
    roi_dir: Annotated[
        Path | None,
        typer.Option(
            help="Where ROI files go (ROI_DIR/LOCATION/CAMERA.json). Default: roi_definitions "
            "beside the pipeline file. Existing ROI files are kept."
        ),
    ] = None,
    camera_pattern: Annotated[
        str | None,
        typer.Option(
            help="A regular expression whose first group, found in a file name, is the camera "
            "id. Default: the sub-folder of each video, else a camera named in the file name "
            "(cam0, camera_2), else one camera."
        ),
    ] = None,
    start_time_pattern: Annotated[
        str | None,
        typer.Option(
            help="Where the recording start sits in a file name: a regular expression with two "
            "groups, date YYYY-MM-DD and time HH-MM-SS. Default: the pipeline's own."
        ),
    ] = None,
    start_time: Annotated[
        datetime | None,
        typer.Option(
            help="Start time (local) for the videos whose name holds none, e.g. cameras "
            "started together."
        ),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replace an existing pipeline file.")] = False,
) -> None:
    """Write a pipeline file for a new location from a folder of footage.

    Finds every video under FOLDER, reads its frame rate, length and size, sorts the videos into
    cameras and reads each one's recording start from its file name. Writes a commented
    pipeline file and a whole-frame ROI stub per camera. Lists the files that cannot be read, and
    the videos without a start time (commented out in the file until one is set). Nothing is
    written when something is wrong.
    """
    from cyclist_dataset.core.config import LocationConfig
    from cyclist_dataset.tools import init_pipeline

    try:
        LocationConfig(name=location, timezone=timezone)
    except ValueError as exc:
        message = "; ".join(e["msg"] for e in exc.errors())  # type: ignore[attr-defined]
        raise UserError(f"--location/--timezone: {message}") from None
    out = out or Path(f"{location}.toml")
    roi_dir = roi_dir or out.resolve().parent / "roi_definitions"
    found = init_pipeline.scan(
        folder,
        camera_pattern,
        start_time_pattern or init_pipeline.DEFAULT_START_TIME_PATTERN,
        start_time,
    )
    written = init_pipeline.write(found, location, timezone, out, roi_dir, force=force)

    typer.echo(f"{len(found.videos)} videos, {len(found.cameras)} camera(s): {found.grouping}")
    for camera in found.cameras:
        mine = [v for v in found.videos if v.camera == camera]
        info = mine[0].info
        timed = sum(v.start_time is not None for v in mine)
        typer.echo(
            f"  {camera}: {len(mine)} videos, {info.width}x{info.height}, {timed} with a start time"
        )
    if found.untimed:
        typer.echo(f"{len(found.untimed)} video(s) need a start time (commented out in {out}):")
        for video in found.untimed:
            typer.echo(f"  {video.path}: {video.why_no_time}")
    if found.unreadable:
        typer.echo(f"{len(found.unreadable)} file(s) could not be read, left out:")
        for path, why in found.unreadable:
            typer.echo(f"  {path}: {why}")
    typer.echo(f"wrote {written.pipeline}")
    for path in written.rois_written:
        typer.echo(f"wrote {path} (whole frame: draw the region where cyclists ride)")
    for path in written.rois_kept:
        typer.echo(f"kept {path} (exists)")
    if found.timed:
        typer.echo(
            f"next: draw each camera's road in the browser: cyclist-dataset roi edit "
            f"{written.pipeline}; then cyclist-dataset run {written.pipeline}"
        )
    else:
        typer.echo(f"next: set the start times in {written.pipeline}, then run it")
