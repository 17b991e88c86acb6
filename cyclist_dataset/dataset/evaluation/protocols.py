"""The evaluation of a re-ID model's features on a release: the thesis's protocols.

- **thesis** (Schoustra 2020, Section IV.A): every labelled test image is a query against all the
  other test images; images of its identity from its own camera are left out; distractors
  (unlabelled tracklets) stay in the gallery.
- **market**: Market-1501's split, the release's ``query`` (one image per identity and camera)
  against its ``gallery``.
- **open world** (Section III.C.2, Experiment 5): every cross-camera pair of test images is a
  "same person?" decision at a distance threshold: precision, recall and F1 at the threshold that
  maximises F1 (thesis Table XII) and at a threshold the user gives, and the false-positive /
  false-negative curve (Figure 13).
- **tracklets**: the same with one embedding per tracklet, the mean of its images' (Table XIII).
  A tracklet lies in one camera; the parts of a tracklet the annotators split are tracklets of
  their own. For ``market``, each query image stands for its whole tracklet (the mean of all its
  test images), against the gallery's images averaged per tracklet.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cyclist_dataset.dataset.evaluation import metrics
from cyclist_dataset.dataset.evaluation.features import Features
from cyclist_dataset.dataset.reader import load_split, release_meta

LEVELS = ("images", "tracklets")
CMC_CURVE = tuple(range(1, 21))  # ranks plotted; the tables show metrics.RANKS


@dataclass(frozen=True)
class ImageSet:
    """Features with the identity (pid, 0 = distractor), camera and tracklet of each."""

    vectors: np.ndarray
    pids: np.ndarray
    camids: np.ndarray
    tracklets: np.ndarray

    @classmethod
    def of(cls, frame: pd.DataFrame, vectors: np.ndarray) -> ImageSet:
        return cls(
            vectors,
            frame["pid"].to_numpy(np.int64),
            frame["camid"].to_numpy(np.int64),
            frame["tracklet_id"].to_numpy(str),
        )

    def tracklet_means(self) -> ImageSet:
        """One mean embedding per tracklet (tracklets sorted by id)."""
        names, inverse = np.unique(self.tracklets, return_inverse=True)
        sums = np.zeros((len(names), self.vectors.shape[1]))
        np.add.at(sums, inverse, self.vectors.astype(np.float64))
        counts = np.bincount(inverse, minlength=len(names))[:, None]
        first = np.unique(inverse, return_index=True)[1]
        return ImageSet(sums / counts, self.pids[first], self.camids[first], names)


@dataclass
class Evaluation:
    """Everything ``evaluate`` found; ``as_dict`` is its JSON."""

    release: str
    metric: str
    features: dict
    test_set: dict
    closed_world: dict[str, dict[str, metrics.ClosedWorld]] = field(default_factory=dict)
    open_world: dict[str, metrics.OpenWorld] = field(default_factory=dict)
    threshold: float | None = None

    def as_dict(self) -> dict:
        return {
            "release": self.release,
            "metric": self.metric,
            "features": self.features,
            "test_set": self.test_set,
            "threshold": self.threshold,
            "closed_world": {
                protocol: {level: result.as_dict() for level, result in levels.items()}
                for protocol, levels in self.closed_world.items()
            },
            "open_world": {level: result.as_dict() for level, result in self.open_world.items()},
        }


def evaluate(
    release_dir: Path | str,
    features: Features,
    threshold: float | None = None,
    metric: str = "euclidean",
    features_source: str = "features",
    chunk_rows: int = metrics.CHUNK_ROWS,
) -> Evaluation:
    """Closed-world (thesis and Market protocols) and open-world metrics of ``features`` on the
    release's test split, per image and per tracklet."""
    metrics.check_metric(metric)  # before any work
    release_dir = Path(release_dir)
    test = load_split(release_dir, "test")
    query = load_split(release_dir, "query", allow_empty=True)
    vectors = features.for_images(test["image"], features_source)
    images = ImageSet.of(test, vectors)
    evaluation = Evaluation(
        release=str(release_meta(release_dir).get("name", release_dir.name)),
        metric=metric,
        features={"source": features_source, "dimensions": int(vectors.shape[1])},
        test_set=_describe(test),
        threshold=threshold,
    )
    is_query = test["image"].isin(query["image"]).to_numpy() if len(query) else None
    evaluation.closed_world, evaluation.open_world = evaluate_images(
        images, is_query, threshold, metric, chunk_rows
    )
    return evaluation


def evaluate_images(
    images: ImageSet,
    is_query: np.ndarray | None,
    threshold: float | None = None,
    metric: str = "euclidean",
    chunk_rows: int = metrics.CHUNK_ROWS,
) -> tuple[dict[str, dict[str, metrics.ClosedWorld]], dict[str, metrics.OpenWorld]]:
    """The metrics of a test set already in memory: (closed world per protocol and level, open
    world per level). ``is_query`` marks the Market-1501 queries (None: no such protocol)."""
    closed_world: dict[str, dict[str, metrics.ClosedWorld]] = {"thesis": {}}
    open_world: dict[str, metrics.OpenWorld] = {}
    for level, members in zip(LEVELS, (images, images.tracklet_means()), strict=True):
        closed = metrics.ClosedWorldCounter(
            members.pids, members.camids, members.pids, members.camids, CMC_CURVE
        )
        opened = metrics.OpenWorldCounter(
            metrics.positive_pair_distances(members.vectors, members.pids, members.camids, metric),
            members.pids,
            members.camids,
            threshold,
        )
        # one pass over the distance matrix serves both
        rows = metrics.feature_rows(members.vectors, members.vectors, metric)
        metrics.scan(rows, len(members.pids), closed, opened, chunk_rows=chunk_rows)
        closed_world["thesis"][level] = closed.result()
        open_world[level] = opened.result()
    if is_query is not None:
        closed_world["market"] = _market(images, is_query, metric, chunk_rows)
    return closed_world, open_world


def _market(
    images: ImageSet, is_query: np.ndarray, metric: str, chunk_rows: int
) -> dict[str, metrics.ClosedWorld]:
    query_tracklets = np.isin(images.tracklets, images.tracklets[is_query])
    results = {}
    for level, (q, g) in (
        ("images", (_subset(images, is_query), _subset(images, ~is_query))),
        (
            "tracklets",
            (
                _subset(images, query_tracklets).tracklet_means(),
                _subset(images, ~is_query).tracklet_means(),
            ),
        ),
    ):
        results[level] = metrics.closed_world(
            metrics.feature_rows(q.vectors, g.vectors, metric),
            q.pids,
            q.camids,
            g.pids,
            g.camids,
            CMC_CURVE,
            chunk_rows,
        )
    return results


def _subset(images: ImageSet, keep: np.ndarray) -> ImageSet:
    return ImageSet(
        images.vectors[keep], images.pids[keep], images.camids[keep], images.tracklets[keep]
    )


def _describe(test: pd.DataFrame) -> dict:
    labelled = test["pid"] != metrics.DISTRACTOR
    return {
        "images": len(test),
        "identities": int(test.loc[labelled, "pid"].nunique()),
        "distractor_images": int((~labelled).sum()),
        "cameras": int(test["camid"].nunique()),
        "tracklets": int(test["tracklet_id"].nunique()),
        "distractor_tracklets": int(test.loc[~labelled, "tracklet_id"].nunique()),
    }
