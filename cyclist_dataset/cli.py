"""The `cyclist-dataset` command."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Annotated, Optional

import typer

from cyclist_dataset import assets as asset_registry
from cyclist_dataset.errors import UserError

app = typer.Typer(
    help="Turn fixed-camera city footage into an anonymized cyclist re-identification dataset.\n\n"
    "Stages: ingest -> detect -> filter -> track -> anonymize (blurred crops) -> split. "
    "Start with `cyclist-dataset assets fetch`, then `cyclist-dataset run pipelines/demo.toml`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
assets_app = typer.Typer(help="Models and sample footage, pinned by upstream URL and SHA-256.", no_args_is_help=True)
app.add_typer(assets_app, name="assets")


roi_app = typer.Typer(help="Regions of interest: check the polygon files, preview them over real frames.",
                      no_args_is_help=True)
app.add_typer(roi_app, name="roi")


@app.command()
def run(
    pipeline: Annotated[Path, typer.Argument(metavar="PIPELINE", help="Pipeline file (TOML), e.g. pipelines/demo.toml.")],
    workspace: Annotated[Optional[Path], typer.Option(
        help="Output folder; default: the pipeline's `workspace` key (relative to the pipeline file).")] = None,
    stages: Annotated[Optional[str], typer.Option(
        help="Comma-separated stages to run (default: all): ingest,detect,filter,track,anonymize,split. "
        "Each needs its upstream stages' results in the workspace.")] = None,
    force: Annotated[bool, typer.Option(
        help="Redo the selected stages even where their results are up to date.")] = False,
    executor: Annotated[str, typer.Option(
        help="Where videos run: local (this machine) or ray (a Ray cluster; pip install 'cyclist-dataset[ray]').")
    ] = "local",
    workers: Annotated[Optional[int], typer.Option(
        help="Videos processed at once. local: processes (default 1: the detector already uses every "
        "core); ray: actors (default: the cluster's CPUs / --cpus-per-worker).")] = None,
    address: Annotated[Optional[str], typer.Option(
        help="Ray cluster address (e.g. ray://head:10001 or auto); default: connect to a running local "
        "cluster, or start one on this machine.")] = None,
    cpus_per_worker: Annotated[int, typer.Option(help="ray: CPUs per worker (its detector's threads).")] = 1,
    gpus_per_worker: Annotated[float, typer.Option(help="ray: GPUs per worker.")] = 0,
) -> None:
    """Run the pipeline's stages over every video. Finished, unchanged work is skipped; changed
    parameters or inputs redo the affected stages. Ends with where the outputs are and a summary."""
    from cyclist_dataset.config import load_pipeline
    from cyclist_dataset.report import drops, summary, where_outputs_are
    from cyclist_dataset.runner import STAGES, run_pipeline

    config = load_pipeline(pipeline, workspace)
    selected = tuple(s.strip() for s in stages.split(",")) if stages else STAGES
    from cyclist_dataset.executors import make_executor

    runner_executor = make_executor(executor, workers, address, cpus_per_worker, gpus_per_worker)
    report = run_pipeline(config, selected, force=force, log=lambda line: typer.echo(line, err=True),
                          executor=runner_executor)
    typer.echo(f"\n{len(report.done)} stage result(s) computed, {len(report.skipped)} up to date.")
    typer.echo(where_outputs_are(config.workspace))
    typer.echo("\n" + summary(config.workspace).to_string())
    typer.echo("\nboxes dropped by the filter, by the first rule they fail:\n" + drops(config.workspace).to_string())
    if report.failed:
        typer.echo(f"\n{len(report.failed)} video(s) failed:", err=True)
        for video_id, (stage, message) in report.failed.items():
            typer.echo(f"  {video_id} (stage {stage}): {message}", err=True)
        raise typer.Exit(1)


@roi_app.command("preview")
def roi_preview(
    pipeline: Annotated[Path, typer.Argument(metavar="PIPELINE", help="Pipeline file (TOML).")],
    camera: Annotated[str, typer.Option(help="Camera id, as in the pipeline's [[cameras]].")],
    out: Annotated[Path, typer.Option(help="PNG file to write.")],
    frame: Annotated[int, typer.Option(help="Frame index in the video.")] = 0,
    video: Annotated[Optional[str], typer.Option(help="Video id; default: the camera's first video.")] = None,
) -> None:
    """Draw a camera's ROI polygons over a real frame, with the pipeline's detector's boxes of that
    frame: green if the filter keeps them, red with the rule that drops them (class, score,
    aspect_ratio, width, roi). The dot on each box is the point tested against the ROI."""
    import cv2

    from cyclist_dataset.config import load_pipeline
    from cyclist_dataset.preview import preview_frame
    from cyclist_dataset.workspace import atomic_path

    config = load_pipeline(pipeline)
    image, found, reasons = preview_frame(config, camera, video, frame)
    ok, png = cv2.imencode(".png", image)
    with atomic_path(out) as tmp:
        tmp.write_bytes(png.tobytes())
    kept = sum(r is None for r in reasons)
    dropped = Counter(r for r in reasons if r is not None)
    typer.echo(f"{out}: {len(found)} boxes, {kept} kept"
               + "".join(f", {n} dropped by {reason}" for reason, n in sorted(dropped.items())))


@roi_app.command("check")
def roi_check(
    pipeline: Annotated[Path, typer.Argument(metavar="PIPELINE", help="Pipeline file (TOML).")],
) -> None:
    """Validate the ROI file of every camera of a pipeline (points, polygons, image size) and
    compare it with the size of that camera's videos. Exits with status 1 if any is wrong."""
    from cyclist_dataset.config import load_pipeline
    from cyclist_dataset.errors import RoiError
    from cyclist_dataset.roi import load_roi
    from cyclist_dataset.runner import source_path
    from cyclist_dataset.video import probe

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
        typer.echo(f"ok   {camera.id}: {path} ({roi.image_width}x{roi.image_height}, {share:.0%} of the frame)")
        for video in (v for v in config.videos if v.camera == camera.id):
            try:
                info = probe(source_path(video))
            except UserError as exc:
                typer.echo(f"     {video.video_id}: cannot check its size: {exc}", err=True)
                continue
            if (info.width, info.height) != (roi.image_width, roi.image_height):
                same_shape = abs(info.width / info.height - roi.image_width / roi.image_height) < 0.01
                typer.echo(f"     {video.video_id}: {info.width}x{info.height}, the polygons are scaled"
                           + ("" if same_shape else " and stretched (aspect ratios differ)"))
    if failures:
        raise typer.Exit(1)


@assets_app.command("fetch")
def assets_fetch(
    from_: Annotated[Optional[Path], typer.Option(
        "--from", help="Seed the cache from this local folder (laid out like the registry: models/..., "
        "footage/...), e.g. ../shared/assets, instead of downloading.")] = None,
    name: Annotated[Optional[list[str]], typer.Option(help="Only these assets (repeatable); default: all.")] = None,
) -> None:
    """Put every registry asset into the cache, checking each SHA-256.
    The cache is a user folder; set CYCLIST_DATASET_CACHE to move it."""
    names = list(name) if name else None
    if from_ is not None:
        done = asset_registry.seed(from_, names)
    else:
        done = asset_registry.download(names)
    typer.echo(f"{len(done)} asset(s) added; all requested assets are in {asset_registry.cache_dir()}")


@assets_app.command("list")
def assets_list() -> None:
    """Every registry asset, whether it is in the cache, and where it comes from."""
    missing = set(asset_registry.missing())
    for asset in asset_registry.REGISTRY.values():
        state = "missing" if asset.name in missing else "cached"
        typer.echo(f"{state:8} {asset.name}\n         {asset.url}  ({asset.license})")
    typer.echo(f"cache: {asset_registry.cache_dir()}")


def _register_stage_tools() -> None:
    """Commands that live beside their stage's module."""
    from cyclist_dataset.anonymize_cli import anonymize_video, audit_privacy
    from cyclist_dataset.dataset_cli import labels_app, pull, release_app
    from cyclist_dataset.tracking_cli import eval_tracks, track_mot

    app.command("anonymize-video")(anonymize_video)
    app.command("audit-privacy")(audit_privacy)
    app.command("track-mot")(track_mot)
    app.command("eval-tracks")(eval_tracks)
    app.add_typer(labels_app, name="labels")
    app.add_typer(release_app, name="release")
    app.command("pull")(pull)


_register_stage_tools()


def main() -> None:
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
