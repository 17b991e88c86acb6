"""An evaluation written out: ``evaluation.json`` (everything), ``evaluation.md`` (the tables,
also printed by ``cyclist-dataset evaluate``) and, where matplotlib is installed, PNG plots: the
false-positive / false-negative curve of each level (thesis Figure 13) and the CMC curves."""

from __future__ import annotations

import json
from pathlib import Path

from cyclist_dataset.dataset.evaluation.metrics import RANKS
from cyclist_dataset.dataset.evaluation.protocols import LEVELS, Evaluation
from cyclist_dataset.io.atomic import atomic_path, write_text

PROTOCOL_NAMES = {
    "thesis": "thesis (each test image against all others)",
    "market": "Market-1501 (query against gallery)",
}


def markdown(evaluation: Evaluation) -> str:
    """The tables: closed world per protocol and level, open world per level."""
    test = evaluation.test_set
    lines = [
        f"# Evaluation of release {evaluation.release}",
        "",
        f"Features: {evaluation.features['source']} ({evaluation.features['dimensions']} "
        f"dimensions), {evaluation.metric} distance. Test set: {test['images']} images of "
        f"{test['identities']} identities in {test['cameras']} cameras, "
        f"{test['distractor_images']} distractor images; {test['tracklets']} tracklets "
        f"({test['distractor_tracklets']} distractors).",
        "",
        "## Closed world",
        "",
        "| protocol | level | queries | " + " | ".join(f"rank-{k}" for k in RANKS) + " | mAP |",
        "|---|---|---:|" + "---:|" * len(RANKS) + "---:|",
    ]
    for protocol, levels in evaluation.closed_world.items():
        for level, result in levels.items():
            lines.append(
                f"| {PROTOCOL_NAMES[protocol]} | {level} | {result.queries} | "
                + " | ".join(_percent(result.cmc[k]) for k in RANKS)
                + f" | {_percent(result.mAP)} |"
            )
    if "market" not in evaluation.closed_world:
        lines += ["", "(No Market-1501 protocol: the release's query split is empty.)"]
    if any(r.queries == 0 for levels in evaluation.closed_world.values() for r in levels.values()):
        lines += [
            "",
            "n/a: no query has a match in another camera (one camera, or no identity labelled "
            "in two), so there is nothing to rank.",
        ]
    lines += [
        "",
        "## Open world (cross-camera pairs of test images)",
        "",
        "| level | pairs | same person | threshold | precision | recall | F1 | TP | FP | FN |",
        "|---|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for level in LEVELS:
        pairs = evaluation.open_world[level]
        for name, point in (("best F1", pairs.best), ("given", pairs.at_threshold)):
            if point is None:
                continue
            lines.append(
                f"| {level} | {pairs.pairs} | {pairs.positives} | {point.threshold:.4f} "
                f"({name}) | {100 * point.precision:.1f}% | {100 * point.recall:.1f}% | "
                f"{100 * point.f1:.1f}% | {point.tp} | {point.fp} | {point.fn} |"
            )
        if pairs.best is None:
            lines.append(
                f"| {level} | {pairs.pairs} | 0 | (no cross-camera identity) | | | | | | |"
            )
    return "\n".join(lines) + "\n"


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def write_report(evaluation: Evaluation, out: Path | str) -> list[Path]:
    """Write the report files into ``out``; returns them (PNGs only with matplotlib)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "evaluation.json", out / "evaluation.md"]
    write_text(written[0], json.dumps(evaluation.as_dict(), indent=2) + "\n")
    write_text(written[1], markdown(evaluation))
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        return written
    return written + _plots(evaluation, out)


def _plots(evaluation: Evaluation, out: Path) -> list[Path]:
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(LEVELS), figsize=(11, 4))
    for axis, level in zip(axes, LEVELS, strict=True):
        result = evaluation.open_world[level]
        axis.plot(result.thresholds, result.false_positives, label="false positives")
        axis.plot(result.thresholds, result.false_negatives, label="false negatives")
        if result.best is not None:
            axis.axvline(
                result.best.threshold,
                color="green",
                label=f"best F1 {100 * result.best.f1:.1f}% at {result.best.threshold:.3f}",
            )
        if result.at_threshold is not None:
            axis.axvline(result.at_threshold.threshold, color="grey", linestyle="--", label="given")
        axis.set_yscale("symlog", linthresh=1)  # counts span 0 to millions
        axis.set_ylim(bottom=0)
        axis.set_xlabel(f"{evaluation.metric} distance threshold")
        axis.set_ylabel("pairs")
        axis.set_title(f"open world, {level}")
        axis.legend(fontsize=8)
    figure.tight_layout()
    paths = [out / "open_world.png", out / "cmc.png"]
    with atomic_path(paths[0], ".png") as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(6, 4))
    for protocol, levels in evaluation.closed_world.items():
        for level, closed in levels.items():
            curve = {k: v for k, v in sorted(closed.cmc.items()) if v is not None}
            if curve:  # None: no query to measure
                axis.plot(
                    list(curve), list(curve.values()), marker=".", label=f"{protocol}, {level}"
                )
    axis.set_xlabel("rank")
    axis.set_ylabel("matching rate")
    axis.set_ylim(0, 1.02)
    axis.set_title("CMC")
    if axis.lines:
        axis.legend(fontsize=8)
    else:
        axis.text(0.5, 0.5, "no query to rank", ha="center", transform=axis.transAxes)
    figure.tight_layout()
    with atomic_path(paths[1], ".png") as tmp:
        figure.savefig(tmp, dpi=100)
    plt.close(figure)
    return paths
