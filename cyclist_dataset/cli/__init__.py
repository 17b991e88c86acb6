"""The `cyclist-dataset` command: one typer app (``app``), one module per command group.

Importing this package registers every command; heavy modules are imported inside the commands so
``--help`` stays fast and a reader-only install (no ``pipeline`` extra) runs ``release list`` and
``verify``, ``pull`` and ``evaluate``; a pipeline command there says which extra to install. Bad
input raises ``UserError``: printed without a traceback, exit status 2.
"""

from cyclist_dataset.cli import (  # noqa: F401 (registers)
    annotate,
    anonymize,
    assets,
    evaluate,
    init,
    labels,
    release,
    roi,
    run,
    tracking,
)
from cyclist_dataset.cli.app import app, main

__all__ = ["app", "main"]
