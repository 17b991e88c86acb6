"""The dataset card of a release (``README.md``): thesis Tables III and IV, figures, labels, models
and the pipeline's parameters, written from the release's metadata."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from cyclist_dataset.core.schemas import DISTRACTOR_PID
from cyclist_dataset.dataset.reader import ALLOW_FLAG, UNAUDITED_WARNING


def unaudited_warning(privacy: dict | None) -> str | None:
    """The card's first line for a release with unaudited crops."""
    if privacy is None or privacy.get("audited", False):
        return None
    return (
        f"> **WARNING: {UNAUDITED_WARNING.format(flag=f'`{ALLOW_FLAG}`')}** "
        f"({privacy['unaudited_crops']} of {privacy['crops']} crops.)"
    )


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
                "test (labelled, cross-camera)": test[test["pid"] != DISTRACTOR_PID]
                .groupby("pid")
                .size(),
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
        labelled = t[t["pid"] != DISTRACTOR_PID]
        rows.append(
            [
                "**Total**" if location is None else location,
                labelled["pid"].nunique(),
                len(labelled),
                t.loc[t["pid"] == DISTRACTOR_PID, "tracklet_id"].nunique(),
                int((t["pid"] == DISTRACTOR_PID).sum()),
                len(q),
                len(g),
            ]
        )
    return rows


def privacy_lines(privacy: dict | None) -> list[str]:
    """The card's privacy section, every statement counted from the manifests
    (``dataset.privacy.privacy_summary``)."""
    if privacy is None:
        return ["This release was made before releases were gated on the privacy audit."]
    audit = privacy["audit"]
    status = (
        f"All {privacy['crops']} crops carry a passing verdict of the privacy audit as currently "
        f"defined (version {audit['version']}), made in memory before each crop was written."
        if privacy["audited"]
        else f"**{privacy['unaudited_crops']} of {privacy['crops']} crops carry no passing verdict "
        "of the privacy audit as currently defined** (released with `--allow-unaudited`)."
    )
    methods: dict[str, int] = {}
    for camera in privacy["by_camera"]:
        for method, n in camera["methods"].items():
            methods[method] = methods.get(method, 0) + n
    rows = []
    for c in privacy["by_camera"]:
        escalated = c["escalated"]
        rows.append(
            [
                c["location"],
                c["camera"],
                c["crops"],
                c["audited"],
                " / ".join(str(escalated.get(str(k), 0)) for k in (1, 2, 3)),
                c["refused"],
                ", ".join(f"{n} {why}" for why, n in c["unaudited"].items()) or 0,
            ]
        )
    thresholds = ", ".join(
        f"{name} >= {value} (kept below {audit['margins'][name]} of it)"
        for name, value in audit["thresholds"].items()
    )
    return [
        status,
        "",
        "Blurred before writing: "
        + ", ".join(f"{n} crops by `{method}`" for method, n in sorted(methods.items()))
        + f". The privacy audit refused {privacy['refused_crops']} crop(s): a face detector still "
        "found a face, or nearly (within its rescaling margin), after the last escalation, so "
        "they were never written.",
        "",
        _table(
            [
                "Location",
                "Cam",
                "crops",
                "audited",
                "escalated 1 / 2 / 3 rounds",
                "refused (not written)",
                "not audited",
            ],
            rows,
        ),
        "",
        f"The audit: face detectors {thresholds}; faces of {audit['face_px'][0]}-"
        f"{audit['face_px'][1]} px searched, the head region (top "
        f"{audit['head_fraction']:.0%} of a crop) separately at higher magnification; every view "
        "with bilinear and bicubic resampling. Models: "
        + ", ".join(f"`{d}`" for d in audit["detectors"])
        + ". Views per detector:",
        "",
        "```json",
        json.dumps(audit["views"], indent=2, sort_keys=True),
        "```",
    ]


def _windows_text(meta: dict) -> str:
    parts = []
    for location, windows in (meta.get("validation_windows") or {}).items():
        texts = []
        for w in windows:
            start, length = w.get("validation_start_minute", "?"), w.get("validation_minutes", 0)
            end = (start + length) % 60 or 60 if isinstance(start, int) else "?"
            texts.append(
                f"minutes {start}-{end} of every hour ({w.get('timezone') or 'UTC'}), guard band "
                f"{w.get('guard_s', '?')} s"
            )
        parts.append(f"**{location}**: " + "; ".join(texts))
    return "; ".join(parts) or "not recorded"


def dataset_card(
    meta: dict,
    splits: dict[str, pd.DataFrame],
    hours: pd.Series,
    figures: dict[str, str],
    checksums: str,
) -> str:
    labels = meta["labels"]
    stats = meta["split_stats"]
    privacy = meta.get("privacy")
    if stats.get("videos_recorded"):
        cost = (
            f"The guard band around every train/validation boundary dropped "
            f"{stats['guard_band_tracklets']} tracklet(s), {stats['guard_band_crops']} of "
            f"{stats['crops_in']} crops."
        )
        if stats["videos_recorded"] < stats["videos"]:
            cost += (
                f" (Recorded for {stats['videos_recorded']} of {stats['videos']} videos; "
                "rerun the split stage.)"
            )
    else:
        cost = "The split stage of this workspace did not record what the guard band cost."
    label_text = (
        "No label version: the test split has no identities, only distractors (pid 0)."
        if labels is None
        else f"Label version **{labels['version']}**, made {labels['created_at']} by "
        f"{labels['created_by']} ({_label_source(labels)}): {labels['labelled_tracklets']} "
        f"labelled tracklets (or parts of split ones), {labels['identities']} identities; "
        f"{labels.get('junk', 0)} junk (not a person) and {labels.get('unsure', 0)} unsure left "
        "out; unlabelled validation tracklets stay in the test split as distractors (pid 0)."
    )
    warning = unaudited_warning(privacy)
    parts = [
        *([warning, ""] if warning else []),
        f"# Cyclist re-identification dataset, release {meta['name']}",
        "",
        f"Created {meta['created_at']} by {meta['created_by']} with cyclist-dataset "
        f"{meta['tool_version']} from the workspace `{meta['workspace']}`.",
        "",
        "## Splits",
        "",
        "Validation (labelled across cameras by hand: the test set), per location: "
        f"{_windows_text(meta)}; the rest is train. A tracklet goes whole to the part holding its "
        f"midpoint. {cost}",
        "",
        *[f"> **{line}**\n" for line in meta.get("warnings", [])],
        _table(
            ["split", "images", "identities", "distractor images", "tracklets"],
            [
                [s, c["images"], c["pids"], c.get("distractor_images", 0), c["tracklets"]]
                for s, c in meta["counts"].items()
            ],
        ),
        "",
        "- **train**: identities are per-camera tracklets (`pid` 0..N-1, as in the thesis: not "
        "linked across cameras), so batches should come from a single camera "
        "(`cyclist_dataset.dataset.torch.CameraPKSampler`).",
        "- **test**: `pid` 1..M are cross-camera identities; `pid` 0 marks unlabelled tracklets "
        "(distractors: Market-1501's `0000` in a market1501 pull; in an msmt pull, which has no "
        "distractor label, an identity of its own per tracklet, in the gallery only). Junk (not a "
        "person) and unsure tracklets are left out.",
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
        "## Privacy",
        "",
        *privacy_lines(privacy),
        "",
        "## Models and anonymization",
        "",
        *[f"- detector: `{m}`" for m in meta["models"]],
        *[
            f"- anonymization, {location}: `{json.dumps(summary, sort_keys=True)}` "
            "(min/max: varies per crop)"
            for location, summary in meta["anonymization"].items()
        ],
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
        "`cyclist-dataset evaluate RELEASE_DIR --features FILE` scores a model's features with the "
        "thesis's protocol (CMC, mAP; open-world precision, recall, F1); `--baseline colour` "
        "gives the colour-statistics floor.",
        "",
        "`cyclist-dataset pull RELEASE_DIR --split train --to DIR "
        "--format market1501|msmt|parquet` exports a split.",
        "",
        f"`cyclist-dataset release verify RELEASE_DIR` (or `sha256sum -c {checksums}` in this "
        "folder) checks every file.",
        "",
    ]
    return "\n".join(parts)


def _label_source(labels: dict) -> str:
    """Where a label version came from: a file (with its hash), the app, or a carry-over."""
    if labels.get("source") == "app":
        return f"committed in the labelling app at {labels.get('location', '?')}"
    if labels.get("source") == "carry":
        return f"carried from {labels.get('carried_from')} to a rerun's tracklets: " + str(
            labels.get("carry")
        )
    return (
        f"from `{Path(labels.get('source_file', '?')).name}`, SHA-256 "
        f"`{labels.get('source_sha256', '?')}`"
    )
