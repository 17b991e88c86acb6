"""`cyclist-dataset run`: the pipeline over every video of a pipeline file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import typer

from cyclist_dataset.cli.app import PipelineArg, WorkspaceOption, app
from cyclist_dataset.io.progress import MODE_ENV

if TYPE_CHECKING:
    from cyclist_dataset.core.config import PipelineConfig
    from cyclist_dataset.pipeline.run import RunReport


@app.command()
def run(
    pipeline: PipelineArg,
    workspace: WorkspaceOption = None,
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
    progress: Annotated[
        Literal["auto", "bars", "plain", "off"],
        typer.Option(
            envvar=MODE_ENV,
            help="Progress on stderr: bars (an overall bar, the current video's below it), "
            "plain (no carriage returns, for CI and log files: a line per task at most every 30 s, "
            "$CYCLIST_DATASET_PROGRESS_INTERVAL, and when it ends), off. "
            "auto: bars on a terminal, plain otherwise.",
        ),
    ] = "auto",
) -> None:
    """Run the pipeline's stages over every video. Finished, unchanged work is skipped; changed
    parameters or inputs redo the affected stages. Ends with where the outputs are and a summary."""
    from cyclist_dataset.core.config import load_pipeline
    from cyclist_dataset.io.progress import configure, write
    from cyclist_dataset.pipeline.executors import make_executor
    from cyclist_dataset.pipeline.run import run_pipeline
    from cyclist_dataset.pipeline.unit import STAGE_NAMES
    from cyclist_dataset.tools.report import drops, split_warnings, summary, where_outputs_are

    config = load_pipeline(pipeline, workspace)
    selected = tuple(s.strip() for s in stages.split(",")) if stages else STAGE_NAMES

    runner_executor = make_executor(executor, workers, address, cpus_per_worker, gpus_per_worker)
    configure(progress)
    report = run_pipeline(
        config,
        selected,
        force=force,
        log=write,  # above the bars, never through them
        executor=runner_executor,
    )
    typer.echo(f"\n{len(report.done)} stage result(s) computed, {len(report.skipped)} up to date.")
    page = _write_run_report(config, report)
    typer.echo(where_outputs_are(config.workspace, report=page))
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


def _write_run_report(config: PipelineConfig, report: RunReport) -> Path | None:
    """WORKSPACE/report/index.html; a report that fails is a warning, never the run's failure (the
    results are written, and the exit status stays the run's)."""
    from cyclist_dataset.tools.run_report import remove_report, write_report

    try:
        return write_report(config, report)
    except Exception as exc:  # whatever it is: the run's results and exit status come first
        typer.echo(
            f"\nWARNING: the run report could not be written ({type(exc).__name__}: {exc})",
            err=True,
        )
        remove_report(config.workspace)  # an older run's page must not pass for this run's
        return None


@app.command("report")
def report_command(
    pipeline: PipelineArg,
    workspace: WorkspaceOption = None,
) -> None:
    """Write the run report (WORKSPACE/report/index.html: a static page, every figure of the
    workspace per location, camera and video) without running anything; `run` writes it too."""
    from cyclist_dataset.core.config import load_pipeline
    from cyclist_dataset.tools.run_report import write_report

    typer.echo(f"run report: {write_report(load_pipeline(pipeline, workspace))}")
