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
        int, typer.Option(min=0, help="Candidate matches shown per other camera.")
    ] = 3,
) -> None:
    """Write a labelling package for offline work at one location: labels.csv (one row per
    validation tracklet, filled in with the labels already made), a contact sheet per tracklet,
    and index.html (opens offline) listing each tracklet's likeliest matches at each other camera.
    Where annotators can reach the workspace, the labelling app (`cyclist-dataset annotate`) is
    the better route."""
    from cyclist_dataset.dataset.labels import export_package

    summary = export_package(workspace, location, out, candidates=candidates)
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
    replace: Annotated[
        bool,
        typer.Option(
            help="Replace every label of the file's locations (default: merge the file into the "
            "latest version; tracklets it does not list keep their labels)."
        ),
    ] = False,
    overlapping_views: Annotated[
        bool | None,
        typer.Option(
            help="Override the location's `overlapping_views` from the pipeline file (whether one "
            "person may be at two cameras at once). Default: the pipeline file's setting."
        ),
    ] = None,
) -> None:
    """Check a filled label file against the workspace and merge it into the latest label version
    as a new one (WORKSPACE/labels/vNNNN). Identities: a name, `junk` (not a person) or `unsure`;
    a row with `frames` labels a part of a split tracklet. Any problem (unknown or changed
    tracklet, two identities for one tracklet, one identity at two cameras at once or at two
    locations, names differing only in case, a malformed value) rejects the whole file, with the
    line of each problem; earlier versions are never changed, and a file that changes nothing
    makes no version."""
    from cyclist_dataset.dataset.labels import get_version, import_labels

    before = get_version(workspace, None)
    version = import_labels(
        workspace, file, by=by, overlapping_views=overlapping_views, replace=replace
    )
    if not version.created:
        typer.echo(f"{file}: no change to label version {version.name}; no new version made")
        return
    meta = version.meta
    typer.echo(
        f"label version {version.name} (after {before.name if before else 'none'}): "
        f"{meta['labelled_tracklets']} labelled tracklets, {meta['identities']} identities, "
        f"{meta['junk']} junk, {meta['unsure']} unsure, "
        f"{meta['unlabelled_validation_tracklets']} validation tracklets unlabelled (they stay "
        f"as distractors) -> {version.path}"
    )


@labels_app.command("carry")
def labels_carry(workspace: WorkspaceArg) -> None:
    """After a rerun that renumbered or changed tracklets: carry the latest label version's labels
    to today's tracklets that hold the same boxes, as a new version. Prints what was carried,
    merged, split over several tracklets, lost, and what to review (the labelling app marks those
    tracklets); the report is kept in the version's carry_report.json."""
    from cyclist_dataset.dataset.labels import carry_version, read_crops

    made, report = carry_version(workspace, read_crops(workspace))
    if not made.created:
        typer.echo(f"{made.name}: every label is still on its tracklet; nothing to carry")
        return
    typer.echo(
        f"label version {made.name}, carried from {made.meta['carried_from']}: {report.summary()}"
    )
    for item in report.lost:
        typer.echo(f"  lost: {item['unit']} ({item['label']}): {item['why']}")
    for item in report.review:
        typer.echo(f"  review: {item['tracklet_id']}: {item['why']}")
    typer.echo(f"report: {made.path / 'carry_report.json'}")


@labels_app.command("list")
def labels_list(workspace: WorkspaceArg) -> None:
    """Every label version of the workspace: when, by whom, from where, how many labels."""
    from cyclist_dataset.dataset.labels import list_versions

    versions = list_versions(workspace)
    if not versions:
        typer.echo(
            f"{workspace}: no label versions yet "
            "(cyclist-dataset annotate, or labels export then labels import)"
        )
    for version in versions:
        meta = version.meta
        source = meta.get("source") or Path(meta.get("source_file", "?")).name
        typer.echo(
            f"{version.name}  {meta['created_at']}  {meta['created_by']:<12} "
            f"{meta['labelled_tracklets']:>6} tracklets {meta['identities']:>5} identities  "
            f"{source}"
        )
