"""The `cyclist-dataset` command."""

from __future__ import annotations

import sys
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
) -> None:
    """Run the pipeline's stages over every video. Finished, unchanged work is skipped; changed
    parameters or inputs redo the affected stages. Ends with where the outputs are and a summary."""
    from cyclist_dataset.config import load_pipeline
    from cyclist_dataset.report import summary, where_outputs_are
    from cyclist_dataset.runner import STAGES, run_pipeline

    config = load_pipeline(pipeline, workspace)
    selected = tuple(s.strip() for s in stages.split(",")) if stages else STAGES
    report = run_pipeline(config, selected, force=force, log=lambda line: typer.echo(line, err=True))
    typer.echo(f"\n{len(report.done)} stage result(s) computed, {len(report.skipped)} up to date.")
    typer.echo(where_outputs_are(config.workspace))
    typer.echo("\n" + summary(config.workspace).to_string())
    if report.failed:
        typer.echo(f"\n{len(report.failed)} video(s) failed:", err=True)
        for video_id, (stage, message) in report.failed.items():
            typer.echo(f"  {video_id} (stage {stage}): {message}", err=True)
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


def main() -> None:
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
