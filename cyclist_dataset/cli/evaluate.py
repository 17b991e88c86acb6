"""`cyclist-dataset evaluate`: a re-ID model's features scored on a release (thesis protocol)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

import typer

from cyclist_dataset.cli.app import app
from cyclist_dataset.errors import UserError

# One string per paragraph: typer shows a docstring's line breaks as they are.
EVALUATE_HELP = "\n\n".join(
    [
        "Score a re-ID model on a release's test split (Schoustra 2020, Section III.C).",
        "Closed world: CMC rank-1/5/10 and mAP, under the thesis's protocol (each labelled test "
        "image against all others; the same identity in the same camera left out; distractors "
        "kept) and Market-1501's (query against gallery).",
        "Open world: every cross-camera pair of test images classified by a distance threshold: "
        "precision, recall and F1 at the best threshold, and at --threshold.",
        "Each per image and per tracklet (mean embedding). Prints the tables; writes JSON, "
        "Markdown and PNG plots (with matplotlib) into --out.",
    ]
)


@app.command("evaluate", help=EVALUATE_HELP)
def evaluate(
    release: Annotated[
        Path,
        typer.Argument(metavar="RELEASE_DIR", help="A release folder (WORKSPACE/releases/NAME)."),
    ],
    features: Annotated[
        Path | None,
        typer.Option(
            help="One feature vector per test image, keyed by the release's image path: Parquet "
            "(`image` + `feature` list, or one numeric column per dimension), .npy (with --index) "
            "or .npz (`features`, `images`)."
        ),
    ] = None,
    baseline: Annotated[
        Literal["colour"] | None,
        typer.Option(
            help="Instead of --features: extract the colour-statistics baseline (a sanity floor, "
            "not a model) and evaluate it."
        ),
    ] = None,
    index: Annotated[
        Path | None,
        typer.Option(help="For an .npy: the image keys, one per line (default: FEATURES.txt)."),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            help="Also report open-world precision, recall and F1 at this distance threshold."
        ),
    ] = None,
    metric: Annotated[
        Literal["euclidean", "cosine"],
        typer.Option(help="euclidean (the thesis's) or cosine (1 - cosine similarity)."),
    ] = "euclidean",
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for evaluation.json, evaluation.md and the plots "
            "(default: evaluations/<release>-<features>/ in the current folder)."
        ),
    ] = None,
) -> None:
    """Score a re-ID model on a release's test split (the help text is ``EVALUATE_HELP``)."""
    from cyclist_dataset.dataset.evaluation import (
        colour_features,
        markdown,
        read_features,
        write_features,
        write_report,
    )
    from cyclist_dataset.dataset.evaluation import evaluate as run_evaluation
    from cyclist_dataset.dataset.reader import release_meta

    if threshold is not None and not math.isfinite(threshold):
        raise UserError(f"--threshold {threshold}: give a finite distance")
    if (features is None) == (baseline is None):
        raise UserError("give either --features FILE (your model's) or --baseline colour")
    name = str(release_meta(release).get("name", release.name))
    stem = features.stem if features is not None else f"baseline-{baseline}"
    out = out if out is not None else Path("evaluations") / f"{name}-{stem}"
    if out.resolve().is_relative_to(release.resolve()):
        raise UserError(f"--out {out} lies inside the release {release}; releases never change")
    if features is not None:
        vectors = read_features(features, index)
        source = str(features)
    else:
        vectors = colour_features(
            release,
            progress=lambda done, total: typer.echo(f"colour features: {done}/{total} images"),
        )
        source = f"baseline {baseline} ({write_features(vectors, out / 'features-colour.parquet')})"
    evaluation = run_evaluation(release, vectors, threshold, metric, features_source=source)
    written = write_report(evaluation, out)
    typer.echo(markdown(evaluation))
    typer.echo(f"written: {', '.join(str(path) for path in written)}")
    if not any(path.suffix == ".png" for path in written):
        typer.echo("(the PNG plots need matplotlib: pip install 'cyclist-dataset[plots]')")
