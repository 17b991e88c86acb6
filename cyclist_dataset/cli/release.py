"""`cyclist-dataset release` and `pull`: immutable dataset releases and exports for training."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Annotated, Literal

import typer

from cyclist_dataset.cli.app import WorkspaceArg, app

release_app = typer.Typer(
    help="Immutable, versioned dataset releases: create one from a workspace and a label version, "
    "verify its checksums, list them.",
    no_args_is_help=True,
)
app.add_typer(release_app, name="release")


@release_app.command("create")
def release_create(
    workspace: WorkspaceArg,
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="The release's name, e.g. v1.0 (never reused).")
    ],
    labels: Annotated[
        str | None,
        typer.Option(
            help="Label version to use, e.g. v0002 (default: the latest; none: a test split of "
            "distractors only)."
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option(help="Who makes the release (default: your user name).")
    ] = None,
    allow_unaudited: Annotated[
        bool,
        typer.Option(
            "--allow-unaudited",
            help="Research use only: release crops that carry no passing verdict of the privacy "
            "audit as currently defined (audit off, or an older or looser audit). The release is "
            "marked unaudited in release.json and the first line of its card, and pull, "
            "load_split and ReidDataset warn whenever it is read.",
        ),
    ] = False,
) -> None:
    """Create the immutable release WORKSPACE/releases/NAME: Parquet manifests of train, test, query
    and gallery, the crops, a dataset card (README.md, with the thesis's Tables III and IV,
    histograms, the privacy audit's counts per camera, parameters, models, label version) and
    SHA-256 checksums of every file.

    Every crop must have passed the privacy audit as currently defined; a workspace, location or
    camera whose crops were not audited is refused, with the fix."""
    from cyclist_dataset.dataset.release import create_release

    path = create_release(
        workspace,
        name,
        labels=labels,
        by=by,
        log=lambda line: typer.echo(line, err=True),
        allow_unaudited=allow_unaudited,
    )
    typer.echo(f"release {name}: {path}\n  dataset card: {path / 'README.md'}")


@release_app.command("verify")
def release_verify(
    release: Annotated[Path, typer.Argument(metavar="RELEASE_DIR", help="A release folder.")],
) -> None:
    """Re-hash every file of a release against its SHA256SUMS; exit with status 1 on any
    difference."""
    from cyclist_dataset.dataset.reader import verify_release

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
    from cyclist_dataset.dataset.reader import list_releases

    found = list_releases(workspace)
    if not found:
        typer.echo(f"{workspace}: no releases yet (cyclist-dataset release create WORKSPACE NAME)")
    for release in found:
        counts = release["counts"]
        labels = (release.get("labels") or {}).get("version", "no labels")
        typer.echo(
            f"{release['name']:<16} {release['created_at']}  labels {labels:<9} "
            f"train {counts['train']['images']} images / {counts['train']['pids']} ids, "
            f"test {counts['test']['images']} images / {counts['test']['pids']} ids  "
            f"{release['path']}"
        )


@app.command("pull")
def pull(
    release: Annotated[
        Path,
        typer.Argument(metavar="RELEASE_DIR", help="A release folder (WORKSPACE/releases/NAME)."),
    ],
    split: Annotated[
        Literal["train", "test", "query", "gallery"],
        typer.Option(help="train, test (= query + gallery), query or gallery."),
    ],
    to: Annotated[
        Path, typer.Option(help="Folder to export into; existing files are never overwritten.")
    ],
    format: Annotated[
        Literal["parquet", "market1501", "msmt"],
        typer.Option(
            help="parquet (manifest + images), market1501 (Market-1501 folders and names; at most "
            "6 cameras and 1501 identities, as torchreid asserts) or msmt (MSMT17 list files: any "
            "number of cameras)."
        ),
    ] = "parquet",
) -> None:
    """Export one split of a release for training or evaluation. Pull several splits into the same
    folder to assemble a full Market-1501 or MSMT17 layout (e.g. train, then test)."""
    from cyclist_dataset.dataset.pull import pull as pull_split
    from cyclist_dataset.dataset.pull import torchreid_hint
    from cyclist_dataset.dataset.reader import release_meta, unaudited_release_message

    warning = unaudited_release_message(release_meta(release), release)
    if warning is not None:
        typer.secho(f"WARNING: {warning}", err=True, fg="red", bold=True)
    with warnings.catch_warnings():  # said once, above
        warnings.simplefilter("ignore", UserWarning)
        summary = pull_split(release, split, to, format)
    typer.echo(
        f"{summary.to}: {summary.images} images of {split} as {format}: "
        f"{', '.join(summary.written)}"
    )
    if (hint := torchreid_hint(summary.to, format)) is not None:
        typer.echo(hint)
