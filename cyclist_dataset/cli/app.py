"""The one typer app every command module registers on, and the entry point's error handling."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cyclist_dataset.errors import UserError

# Arguments several command groups share.
WorkspaceArg = Annotated[
    Path, typer.Argument(metavar="WORKSPACE", help="The pipeline's workspace folder.")
]

app = typer.Typer(
    help="Turn fixed-camera city footage into an anonymized cyclist re-identification dataset.\n\n"
    "Stages: ingest -> detect -> filter -> track -> anonymize (blurred crops) -> split. "
    "Start with `cyclist-dataset assets fetch`, then `cyclist-dataset run pipelines/demo.toml`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def main() -> None:
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
