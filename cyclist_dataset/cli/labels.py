"""`cyclist-dataset labels`: cross-camera labelling of the validation tracklets."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cyclist_dataset.cli.app import WorkspaceArg, app

labels_app = typer.Typer(
    help="Cross-camera labels for the validation tracklets: export a package for the annotators, "
    "import their file as a new immutable label version, list the versions.",
    no_args_is_help=True,
)
app.add_typer(labels_app, name="labels")


@labels_app.command("export")
def labels_export(
    workspace: WorkspaceArg,
    location: Annotated[
        str, typer.Option(help="The location whose validation tracklets to label.")
    ],
    out: Annotated[Path, typer.Option(help="New folder for the package (must not exist).")],
    candidates: Annotated[
        int, typer.Option(min=0, help="Candidate matches shown per tracklet.")
    ] = 5,
    max_gap_s: Annotated[
        float,
        typer.Option(
            help="Candidates are tracklets at other cameras at most this many seconds apart."
        ),
    ] = 300.0,
) -> None:
    """Write a labelling package for one location: labels.csv (one row per validation tracklet, an
    empty `identity` column), a contact sheet per tracklet, and index.html (opens offline) listing
    each tracklet's likeliest matches at the other cameras, by time gap and colour similarity."""
    from cyclist_dataset.dataset.labels import export_package

    summary = export_package(workspace, location, out, candidates=candidates, max_gap_s=max_gap_s)
    typer.echo(
        f"{summary.out}: {summary.tracklets} tracklets from {summary.cameras} camera(s).\n"
        f"Open {summary.out / 'index.html'}, fill the `identity` column of "
        f"{summary.out / 'labels.csv'}, "
        "then run\n"
        f"  cyclist-dataset labels import {workspace} {summary.out / 'labels.csv'}"
    )


@labels_app.command("import")
def labels_import(
    workspace: WorkspaceArg,
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="The filled labels.csv (or a .json list of {tracklet_id, identity} objects).",
        ),
    ],
    by: Annotated[
        str | None, typer.Option(help="Who labelled it (default: your user name).")
    ] = None,
    overlapping_views: Annotated[
        bool,
        typer.Option(
            help="The location's cameras watch the same place, so one person may be at two "
            "cameras at once."
        ),
    ] = False,
) -> None:
    """Check a filled label file against the workspace and keep it as a new label version
    (WORKSPACE/labels/vNNNN). Any problem (unknown or duplicate tracklet, two identities for one
    tracklet, one identity at two cameras at once or at two locations, a malformed value) rejects
    the whole file, with the line of each problem; earlier versions are never changed."""
    from cyclist_dataset.dataset.labels import import_labels

    version = import_labels(workspace, file, by=by, overlapping_views=overlapping_views)
    meta = version.meta
    typer.echo(
        f"label version {version.name}: {meta['labelled_tracklets']} labelled tracklets, "
        f"{meta['identities']} identities, "
        f"{meta['unlabelled_validation_tracklets']} validation tracklets "
        f"unlabelled (they stay as distractors) -> {version.path}"
    )


@labels_app.command("list")
def labels_list(workspace: WorkspaceArg) -> None:
    """Every label version of the workspace: when, by whom, from which file, how many labels."""
    from cyclist_dataset.dataset.labels import list_versions

    versions = list_versions(workspace)
    if not versions:
        typer.echo(
            f"{workspace}: no label versions yet "
            "(cyclist-dataset labels export, then labels import)"
        )
    for version in versions:
        meta = version.meta
        typer.echo(
            f"{version.name}  {meta['created_at']}  {meta['created_by']:<12} "
            f"{meta['labelled_tracklets']:>6} tracklets {meta['identities']:>5} identities  "
            f"{Path(meta['source_file']).name} (sha256 {meta['source_sha256'][:12]})"
        )
