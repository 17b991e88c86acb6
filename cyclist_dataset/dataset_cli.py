"""Commands from tracklets to a dataset: `labels` (cross-camera labelling), `release`, `pull`.

Registered in ``cli.py``::

    app.add_typer(labels_app, name="labels")
    app.add_typer(release_app, name="release")
    app.command("pull")(pull)

Heavy modules are imported inside the commands so ``--help`` stays fast. Bad input raises
``UserError`` (the CLI prints it without a traceback and exits with status 2).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

labels_app = typer.Typer(
    help="Cross-camera labels for the validation tracklets: export a package for the annotators, import "
    "their file as a new immutable label version, list the versions.",
    no_args_is_help=True)
release_app = typer.Typer(
    help="Immutable, versioned dataset releases: create one from a workspace and a label version, verify "
    "its checksums, list them.",
    no_args_is_help=True)

WorkspaceArg = Annotated[Path, typer.Argument(metavar="WORKSPACE", help="The pipeline's workspace folder.")]


@labels_app.command("export")
def labels_export(
    workspace: WorkspaceArg,
    location: Annotated[str, typer.Option(help="The location whose validation tracklets to label.")],
    out: Annotated[Path, typer.Option(help="New folder for the package (must not exist).")],
    candidates: Annotated[int, typer.Option(min=0, help="Candidate matches shown per tracklet.")] = 5,
    max_gap_s: Annotated[float, typer.Option(
        help="Candidates are tracklets at other cameras at most this many seconds apart.")] = 300.0,
) -> None:
    """Write a labelling package for one location: labels.csv (one row per validation tracklet, an
    empty `identity` column), a contact sheet per tracklet, and index.html (opens offline) listing
    each tracklet's likeliest matches at the other cameras, by time gap and colour similarity."""
    from cyclist_dataset.labels import export_package

    summary = export_package(workspace, location, out, candidates=candidates, max_gap_s=max_gap_s)
    typer.echo(f"{summary.out}: {summary.tracklets} tracklets from {summary.cameras} camera(s).\n"
               f"Open {summary.out / 'index.html'}, fill the `identity` column of {summary.out / 'labels.csv'}, "
               "then run\n"
               f"  cyclist-dataset labels import {workspace} {summary.out / 'labels.csv'}")


@labels_app.command("import")
def labels_import(
    workspace: WorkspaceArg,
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The filled labels.csv (or a .json list of "
                                         "{tracklet_id, identity} objects).")],
    by: Annotated[Optional[str], typer.Option(help="Who labelled it (default: your user name).")] = None,
    overlapping_views: Annotated[bool, typer.Option(
        help="The location's cameras watch the same place, so one person may be at two cameras at once.")] = False,
) -> None:
    """Check a filled label file against the workspace and keep it as a new label version
    (WORKSPACE/labels/vNNNN). Any problem (unknown or duplicate tracklet, two identities for one
    tracklet, one identity at two cameras at once or at two locations, a malformed value) rejects the
    whole file, with the line of each problem; earlier versions are never changed."""
    from cyclist_dataset.labels import import_labels

    version = import_labels(workspace, file, by=by, overlapping_views=overlapping_views)
    meta = version.meta
    typer.echo(f"label version {version.name}: {meta['labelled_tracklets']} labelled tracklets, "
               f"{meta['identities']} identities, {meta['unlabelled_validation_tracklets']} validation tracklets "
               f"unlabelled (they stay as distractors) -> {version.path}")


@labels_app.command("list")
def labels_list(workspace: WorkspaceArg) -> None:
    """Every label version of the workspace: when, by whom, from which file, how many labels."""
    from cyclist_dataset.labels import list_versions

    versions = list_versions(workspace)
    if not versions:
        typer.echo(f"{workspace}: no label versions yet (cyclist-dataset labels export, then labels import)")
    for version in versions:
        meta = version.meta
        typer.echo(f"{version.name}  {meta['created_at']}  {meta['created_by']:<12} "
                   f"{meta['labelled_tracklets']:>6} tracklets {meta['identities']:>5} identities  "
                   f"{Path(meta['source_file']).name} (sha256 {meta['source_sha256'][:12]})")


@release_app.command("create")
def release_create(
    workspace: WorkspaceArg,
    name: Annotated[str, typer.Argument(metavar="NAME", help="The release's name, e.g. v1.0 (never reused).")],
    labels: Annotated[Optional[str], typer.Option(
        help="Label version to use, e.g. v0002 (default: the latest; none: a test split of distractors only).")] = None,
    by: Annotated[Optional[str], typer.Option(help="Who makes the release (default: your user name).")] = None,
) -> None:
    """Create the immutable release WORKSPACE/releases/NAME: Parquet manifests of train, test, query
    and gallery, the crops, a dataset card (README.md, with the thesis's Tables III and IV,
    histograms, parameters, models, label version) and SHA-256 checksums of every file."""
    from cyclist_dataset.release import create_release

    path = create_release(workspace, name, labels=labels, by=by, log=lambda line: typer.echo(line, err=True))
    typer.echo(f"release {name}: {path}\n  dataset card: {path / 'README.md'}")


@release_app.command("verify")
def release_verify(
    release: Annotated[Path, typer.Argument(metavar="RELEASE_DIR", help="A release folder.")],
) -> None:
    """Re-hash every file of a release against its SHA256SUMS; exit with status 1 on any difference."""
    from cyclist_dataset.release import verify_release

    checked, problems = verify_release(release)
    if problems:
        typer.echo(f"{release}: {len(problems)} problem(s) in {checked} listed files:", err=True)
        for problem in problems:
            typer.echo(f"  {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{release}: ok, {checked} files match their checksums")


@release_app.command("list")
def release_list(workspace: WorkspaceArg) -> None:
    """Every release of the workspace: when, which label version, how many images and identities."""
    from cyclist_dataset.release import list_releases

    found = list_releases(workspace)
    if not found:
        typer.echo(f"{workspace}: no releases yet (cyclist-dataset release create WORKSPACE NAME)")
    for release in found:
        counts = release["counts"]
        labels = (release.get("labels") or {}).get("version", "no labels")
        typer.echo(f"{release['name']:<16} {release['created_at']}  labels {labels:<9} "
                   f"train {counts['train']['images']} images / {counts['train']['pids']} ids, "
                   f"test {counts['test']['images']} images / {counts['test']['pids']} ids  {release['path']}")


def pull(
    release: Annotated[Path, typer.Argument(metavar="RELEASE_DIR", help="A release folder (WORKSPACE/releases/NAME).")],
    split: Annotated[Literal["train", "test", "query", "gallery"], typer.Option(
        help="train, test (= query + gallery), query or gallery.")],
    to: Annotated[Path, typer.Option(help="Folder to export into; existing files are never overwritten.")],
    format: Annotated[Literal["parquet", "market1501", "msmt"], typer.Option(
        help="parquet (manifest + images), market1501 (Market-1501 folders and names; at most 6 cameras and "
        "1501 identities, as torchreid asserts) or msmt (MSMT17 list files: any number of cameras).")] = "parquet",
) -> None:
    """Export one split of a release for training or evaluation. Pull several splits into the same
    folder to assemble a full Market-1501 or MSMT17 layout (e.g. train, then test)."""
    from cyclist_dataset.pull import pull as pull_split

    summary = pull_split(release, split, to, format)
    typer.echo(f"{summary.to}: {summary.images} images of {split} as {format}: {', '.join(summary.written)}")
