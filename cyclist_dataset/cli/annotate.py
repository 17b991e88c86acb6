"""`cyclist-dataset annotate`: the labelling app."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from cyclist_dataset.cli.app import HostOption, PortOption, TokenOption, WorkspaceArg, app


@app.command("annotate")
def annotate(
    workspace: WorkspaceArg,
    location: Annotated[
        str | None,
        typer.Option(
            help="The location to label (default: the only one with validation tracklets)."
        ),
    ] = None,
    annotator: Annotated[
        str | None,
        typer.Option(help="Your name: your draft is kept under it (default: your user name)."),
    ] = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 0,
    token: TokenOption = None,
) -> None:
    """Label the validation tracklets of a location across cameras in a local web app.

    A queue of tracklets (filter by camera, time, status); per tracklet its crops, the likeliest
    same person at each other camera and same-camera fragments; keys for every action (1-9 same
    person as candidate k, n new identity, j not a person, u unsure, s split at a crop, z undo).
    Impossible labels are shown at once. Every action is saved as it happens in your draft
    (WORKSPACE/labels/drafts/LOCATION/NAME.jsonl): stop the server any time. Commit makes a
    label version through the same checks as `labels import`. After a rerun of the pipeline, the
    labels are carried to the new tracklets at start; what could not be, is marked for review."""
    from cyclist_dataset.web.server import serve

    serve(
        workspace,
        location,
        annotator or getpass.getuser(),
        host=host,
        port=port,
        token=token,
        echo=typer.echo,
    )
