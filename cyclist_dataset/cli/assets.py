"""`cyclist-dataset assets`: models and sample footage, pinned by URL and SHA-256."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cyclist_dataset.cli.app import app

assets_app = typer.Typer(
    help="Models and sample footage, pinned by upstream URL and SHA-256.", no_args_is_help=True
)
app.add_typer(assets_app, name="assets")


@assets_app.command("fetch")
def assets_fetch(
    from_: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="Seed the cache from this local folder (laid out like the registry: models/..., "
            "footage/...), e.g. ../shared/assets, instead of downloading.",
        ),
    ] = None,
    name: Annotated[
        list[str] | None, typer.Option(help="Only these assets (repeatable); default: all.")
    ] = None,
) -> None:
    """Put every registry asset into the cache, checking each SHA-256.
    The cache is a user folder; set CYCLIST_DATASET_CACHE to move it."""
    from cyclist_dataset.io import assets as asset_registry  # pooch: the pipeline extra

    names = list(name) if name else None
    if from_ is not None:
        done = asset_registry.seed(from_, names)
    else:
        done = asset_registry.download(names)
    typer.echo(
        f"{len(done)} asset(s) added; all requested assets are in {asset_registry.cache_dir()}"
    )


@assets_app.command("list")
def assets_list() -> None:
    """Every registry asset, whether it is in the cache, and where it comes from."""
    from cyclist_dataset.io import assets as asset_registry

    missing = set(asset_registry.missing())
    for asset in asset_registry.REGISTRY.values():
        state = "missing" if asset.name in missing else "cached"
        typer.echo(f"{state:8} {asset.name}\n         {asset.url}  ({asset.license})")
    typer.echo(f"cache: {asset_registry.cache_dir()}")
