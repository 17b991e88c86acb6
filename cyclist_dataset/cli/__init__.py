"""The `cyclist-dataset` command: one typer app (``app``), one module per command group.

Importing this package registers every command; heavy modules are imported inside the commands so
``--help`` stays fast. Bad input raises ``UserError``: printed without a traceback, exit status 2.
"""

from cyclist_dataset.cli import (  # noqa: F401 (registers)
    annotate,
    anonymize,
    assets,
    labels,
    release,
    roi,
    run,
    tracking,
)
from cyclist_dataset.cli.app import app, main

__all__ = ["app", "main"]
