"""`cyclist-dataset run`: the pipeline over every video of a pipeline file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cyclist_dataset.cli.app import app


@app.command()
def run(
    pipeline: Annotated[
        Path,
        typer.Argument(metavar="PIPELINE", help="Pipeline file (TOML), e.g. pipelines/demo.toml."),
    ],
    workspace: Annotated[
        Path | None,
        typer.Option(
            help="Output folder; default: the pipeline's `workspace` key (relative to the "
            "pipeline file)."
        ),
    ] = None,
    stages: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated stages to run (default: all): "
            "ingest,detect,filter,track,anonymize,split. "
            "Each needs its upstream stages' results in the workspace."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Redo the selected stages even where their results are up to date.")
    ] = False,
    executor: Annotated[
        str,
        typer.Option(
            help="Where videos run: local (this machine) or ray (a Ray cluster; "
            "pip install 'cyclist-dataset[ray]')."
        ),
    ] = "local",
    workers: Annotated[
        int | None,
        typer.Option(
            help="Videos processed at once. local: processes (default 1: the detector already uses "
            "every core); ray: actors (default: the cluster's CPUs / --cpus-per-worker)."
        ),
    ] = None,
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster address (e.g. ray://head:10001 or auto); default: connect to a "
            "running local cluster, or start one on this machine."
        ),
    ] = None,
    cpus_per_worker: Annotated[
        int, typer.Option(help="ray: CPUs per worker (its detector's threads).")
    ] = 1,
    gpus_per_worker: Annotated[float, typer.Option(help="ray: GPUs per worker.")] = 0,
) -> None:
    """Run the pipeline's stages over every video. Finished, unchanged work is skipped; changed
    parameters or inputs redo the affected stages. Ends with where the outputs are and a summary."""
    from cyclist_dataset.core.config import load_pipeline
    from cyclist_dataset.pipeline.executors import make_executor
    from cyclist_dataset.pipeline.run import run_pipeline
    from cyclist_dataset.pipeline.unit import STAGE_NAMES
    from cyclist_dataset.tools.report import drops, split_warnings, summary, where_outputs_are

    config = load_pipeline(pipeline, workspace)
    selected = tuple(s.strip() for s in stages.split(",")) if stages else STAGE_NAMES

    runner_executor = make_executor(executor, workers, address, cpus_per_worker, gpus_per_worker)
    report = run_pipeline(
        config,
        selected,
        force=force,
        log=lambda line: typer.echo(line, err=True),
        executor=runner_executor,
    )
    typer.echo(f"\n{len(report.done)} stage result(s) computed, {len(report.skipped)} up to date.")
    typer.echo(where_outputs_are(config.workspace))
    typer.echo("\n" + summary(config.workspace).to_string())
    typer.echo(
        "\nboxes dropped by the filter, by the first rule they fail:\n"
        + drops(config.workspace).to_string()
    )
    for line in split_warnings(config.workspace):
        typer.echo(f"\n{line}", err=True)
    from cyclist_dataset.dataset.labels import labels_out_of_date

    stale = labels_out_of_date(config.workspace)
    if stale:
        typer.echo(f"\n{stale}", err=True)
    if report.failed:
        typer.echo(f"\n{len(report.failed)} video(s) failed:", err=True)
        for video_id, (stage, message) in report.failed.items():
            typer.echo(f"  {video_id} (stage {stage}): {message}", err=True)
        raise typer.Exit(1)
