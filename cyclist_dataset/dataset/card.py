"""The dataset card of a release (``README.md``): thesis Tables III and IV, figures, labels, models
and the pipeline's parameters, written from the release's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd


def write_figures(folder: Path, splits: dict[str, pd.DataFrame]) -> dict[str, str]:
    """Histograms as PNG (matplotlib without pyplot: no global state, Agg canvas, no timestamps)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    (folder / "figures").mkdir()
    train, test = splits["train"], splits["test"]
    plots = {
        "tracklet_length.png": (
            "Tracklet length",
            "crops per tracklet",
            "tracklets",
            {
                "train": train.groupby("tracklet_id").size(),
                "test": test.groupby("tracklet_id").size(),
            },
        ),
        "crops_per_identity.png": (
            "Crops per identity",
            "crops",
            "identities",
            {
                "train (per-camera tracklets)": train.groupby("pid").size(),
                "test (labelled, cross-camera)": test[test["pid"] > 0].groupby("pid").size(),
            },
        ),
    }
    for file, (title, xlabel, ylabel, series) in plots.items():
        figure = Figure(figsize=(6, 3.5), dpi=100)
        FigureCanvasAgg(figure)
        axes = figure.add_subplot()
        values = [s.to_numpy() for s in series.values()]
        top = max([int(v.max()) for v in values if len(v)] or [1])
        bins = (
            np.histogram_bin_edges(np.arange(1, top + 2), bins=min(30, top)).tolist()
            if top > 1
            else [0.5, 1.5]
        )
        for label, data in zip(series, values, strict=True):
            axes.hist(data, bins=bins, alpha=0.6, label=f"{label} (n={len(data)})")
        axes.set(title=title, xlabel=xlabel, ylabel=ylabel)
        axes.yaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend()
        figure.tight_layout()
        figure.savefig(folder / "figures" / file, format="png", metadata={"Software": None})
    return {file: title for file, (title, *_rest) in plots.items()}


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def training_table(train: pd.DataFrame, hours: pd.Series) -> list[list[object]]:
    """Thesis Table III: per location and camera, footage hours, crops and identities (train)."""
    rows: list[list[object]] = []
    keys = sorted(
        set(hours.index)
        | set(map(tuple, train[["location", "camera"]].drop_duplicates().to_numpy()))
    )
    total = [0.0, 0, 0]
    for location in sorted({k[0] for k in keys}):
        cams = [k for k in keys if k[0] == location]
        here = train[train["location"] == location]
        h = sum(float(hours.get(k, 0.0)) for k in cams)
        rows.append(
            [
                f"**{location}**",
                f"{len(cams)} camera(s)",
                f"{h:.2f}",
                len(here),
                here["pid"].nunique(),
            ]
        )
        for _, camera in cams:
            at = here[here["camera"] == camera]
            rows.append(
                [
                    "",
                    camera,
                    f"{float(hours.get((location, camera), 0.0)):.2f}",
                    len(at),
                    at["pid"].nunique(),
                ]
            )
        total = [total[0] + h, total[1] + len(here), total[2] + here["pid"].nunique()]
    rows.append(["**Total**", "", f"{total[0]:.2f}", total[1], total[2]])
    return rows


def test_table(
    test: pd.DataFrame, query: pd.DataFrame, gallery: pd.DataFrame
) -> list[list[object]]:
    """Thesis Table IV (per location: identities, images), with distractors, query and gallery."""
    rows = []
    for location in [*sorted(test["location"].unique()), None]:
        t, q, g = (
            f if location is None else f[f["location"] == location] for f in (test, query, gallery)
        )
        labelled = t[t["pid"] > 0]
        rows.append(
            [
                "**Total**" if location is None else location,
                labelled["pid"].nunique(),
                len(labelled),
                t.loc[t["pid"] == 0, "tracklet_id"].nunique(),
                int((t["pid"] == 0).sum()),
                len(q),
                len(g),
            ]
        )
    return rows


def dataset_card(
    meta: dict,
    splits: dict[str, pd.DataFrame],
    hours: pd.Series,
    figures: dict[str, str],
    checksums: str,
) -> str:
    labels = meta["labels"]
    stats = meta["split_stats"]
    split_params = (meta["pipeline"].get("split") or [{}])[0].get("split", {})
    if stats.get("videos_recorded"):
        cost = (
            f"The guard band ({split_params.get('guard_s', '?')} s around every train/validation "
            f"boundary) dropped {stats['guard_band_tracklets']} tracklet(s), "
            f"{stats['guard_band_crops']} of {stats['crops_in']} crops; the privacy audit refused "
            f"{stats['audit_refused_crops']} crop(s)."
        )
        if stats["videos_recorded"] < stats["videos"]:
            cost += (
                f" (Recorded for {stats['videos_recorded']} of {stats['videos']} videos; "
                "rerun the split stage.)"
            )
    else:
        cost = (
            "The split stage of this workspace did not record what the guard band and the privacy "
            "audit cost."
        )
    label_text = (
        "No label version: the test split has no identities, only distractors (pid 0)."
        if labels is None
        else f"Label version **{labels['version']}**, imported {labels['created_at']} by "
        f"{labels['created_by']} from `{Path(labels['source_file']).name}` "
        f"(SHA-256 `{labels['source_sha256']}`): {labels['labelled_tracklets']} labelled "
        f"tracklets, {labels['identities']} identities; unlabelled validation tracklets stay in "
        "the test split as distractors (pid 0)."
    )
    validation_end_minute = (
        split_params.get("validation_start_minute", 0) + split_params.get("validation_minutes", 0)
    ) % 60 or 60
    parts = [
        f"# Cyclist re-identification dataset, release {meta['name']}",
        "",
        f"Created {meta['created_at']} by {meta['created_by']} with cyclist-dataset "
        f"{meta['tool_version']} from the workspace `{meta['workspace']}`. Every crop was blurred "
        "before it was written.",
        "",
        "## Splits",
        "",
        f"Per hour of footage, minutes {split_params.get('validation_start_minute', '?')}-"
        f"{validation_end_minute} "
        "are validation (labelled across cameras by hand: the test set), the rest is train; a "
        f"tracklet goes whole to the part holding its midpoint. {cost}",
        "",
        _table(
            ["split", "images", "pids", "tracklets"],
            [[s, c["images"], c["pids"], c["tracklets"]] for s, c in meta["counts"].items()],
        ),
        "",
        "- **train**: identities are per-camera tracklets (`pid` 0..N-1, as in the thesis: not "
        "linked across cameras), so batches should come from a single camera "
        "(`cyclist_dataset.dataset.torch.CameraPKSampler`).",
        "- **test**: `pid` 1..M are cross-camera identities; `pid` 0 marks unlabelled tracklets "
        "(distractors).",
        "- **query**: one crop per identity and camera, for identities seen by at least two "
        "cameras (Market-1501's convention); **gallery**: the test crops that are not queries.",
        "- `camid` numbers the release's cameras from 0: "
        + ", ".join(f"{c['camid']} = {c['location']}/{c['camera']}" for c in meta["cameras"])
        + ".",
        "",
        "## Training data (thesis Table III)",
        "",
        _table(
            ["Location", "Cam", "Hours", "# Crops", "# IDs"], training_table(splits["train"], hours)
        ),
        "",
        "Hours: footage recorded per camera (train and validation parts).",
        "",
        "## Test data (thesis Table IV)",
        "",
        _table(
            [
                "Location",
                "# IDs",
                "# Images",
                "distractor tracklets",
                "distractor images",
                "query",
                "gallery",
            ],
            test_table(splits["test"], splits["query"], splits["gallery"]),
        ),
        "",
        "## Labels",
        "",
        label_text,
        "",
        "## Figures",
        "",
        *[f"![{title}](figures/{file})" for file, title in figures.items()],
        "",
        "## Models and anonymization",
        "",
        *[f"- detector: `{m}`" for m in meta["models"]],
        f"- anonymization: `{json.dumps(meta['anonymization'], sort_keys=True)}` "
        "(min/max: varies per crop)",
        "",
        "## Pipeline parameters",
        "",
        "Each stage's parameters as stored with its results (one entry per distinct set):",
        "",
        "```json",
        json.dumps(meta["pipeline"], indent=2, sort_keys=True, default=str),
        "```",
        "",
        "## Use",
        "",
        "```python",
        "import cyclist_dataset",
        'train = cyclist_dataset.load_split("RELEASE_DIR", "train")   '
        "# pandas; `path` is each image's file",
        "from cyclist_dataset.dataset.torch import ReidDataset, CameraPKSampler",
        "```",
        "",
        "`cyclist-dataset pull RELEASE_DIR --split train --to DIR "
        "--format market1501|msmt|parquet` exports a split.",
        "",
        f"`cyclist-dataset release verify RELEASE_DIR` (or `sha256sum -c {checksums}` in this "
        "folder) checks every file.",
        "",
    ]
    return "\n".join(parts)
