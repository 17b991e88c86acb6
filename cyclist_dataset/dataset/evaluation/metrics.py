"""Re-identification metrics (Schoustra 2020, Section III.C), computed in chunks of query rows so
that memory stays bounded whatever the size of the test set.

Closed world: CMC (rank-k) and mAP. For each query, gallery images of the same identity *and* the
same camera are removed (the query itself among them: re-ID is finding a person in another camera);
distractors (pid 0: unlabelled tracklets) stay in the gallery as negatives and are never queries; a
query left without a match is skipped (and counted). Open world: every cross-camera pair of images
is a binary decision "same person" at a distance threshold; precision, recall and F1 at the
threshold that maximises F1, and at a threshold the user gives.

Ties count against the model: a non-match at the same distance as a match is ranked before it, so
an order of equal distances cannot flatter a score (matches tied with each other are simply
consecutive). torchreid's ``evaluate_rank`` sorts, and agrees with this whenever no distances tie.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from cyclist_dataset.core import schemas

DISTRACTOR = schemas.DISTRACTOR_PID  # an unlabelled test tracklet: never a query or a match
METRICS = ("euclidean", "cosine")
RANKS = (1, 5, 10)
# Rows of the distance matrix computed at once: 512 x 15,161 float64 distances are 62 MB (the
# benchmark's whole evaluation peaks 412 MiB above its data; the full matrix: 7.6 GiB).
CHUNK_ROWS = 512

Rows = Callable[[int, int], np.ndarray]  # (start, stop) -> distances of those query rows


@dataclass(frozen=True)
class ClosedWorld:
    # rank k -> share of queries with a match in the first k; None: no query to measure (one
    # camera, or no identity seen by two), not a score of 0
    cmc: dict[int, float | None]
    mAP: float | None
    queries: int  # evaluated
    skipped: int  # distractor queries, and queries without a match in another camera

    def as_dict(self) -> dict:
        return {
            "cmc": {str(k): v for k, v in self.cmc.items()},
            "mAP": self.mAP,
            "queries": self.queries,
            "skipped": self.skipped,
        }


@dataclass(frozen=True)
class OperatingPoint:
    threshold: float
    precision: float
    recall: float
    f1: float
    tp: int
    fp: int
    fn: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class OpenWorld:
    pairs: int  # cross-camera pairs
    positives: int  # of them, the same identity
    best: OperatingPoint | None  # at the F1-maximising threshold (None: no positive pair)
    at_threshold: OperatingPoint | None  # at the user's threshold, if given
    # The false-positive / false-negative curve (thesis Figure 13), at every positive pair's
    # distance (where the counts change in a way that matters for F1).
    thresholds: np.ndarray
    false_positives: np.ndarray
    false_negatives: np.ndarray

    def as_dict(self, curve_points: int = 400) -> dict:
        step = max(1, len(self.thresholds) // curve_points)
        return {
            "pairs": self.pairs,
            "positives": self.positives,
            "best": self.best.as_dict() if self.best else None,
            "at_threshold": self.at_threshold.as_dict() if self.at_threshold else None,
            "curve": {
                "threshold": self.thresholds[::step].tolist(),
                "false_positives": self.false_positives[::step].tolist(),
                "false_negatives": self.false_negatives[::step].tolist(),
            },
        }


# ---------------------------------------------------------------- distances


def check_metric(metric: str) -> None:
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")


def prepare(features: np.ndarray, metric: str) -> np.ndarray:
    """Features as float64 rows ready for ``distances`` (cosine: unit length)."""
    check_metric(metric)
    features = np.asarray(features, dtype=np.float64)
    if metric == "cosine":
        norms = np.linalg.norm(features, axis=1, keepdims=True)
        features = features / np.maximum(norms, 1e-12)
    return features


def distances(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    """Distances between rows of ``prepare``d features: Euclidean, or 1 - cosine similarity."""
    product = a @ b.T
    if metric == "cosine":
        return 1.0 - product
    squared = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * product
    return np.sqrt(np.maximum(squared, 0.0))


def feature_rows(query: np.ndarray, gallery: np.ndarray, metric: str) -> Rows:
    """The distance rows of ``query`` x ``gallery``, computed on demand."""
    query, gallery = prepare(query, metric), prepare(gallery, metric)
    return lambda start, stop: distances(query[start:stop], gallery, metric)


def matrix_rows(matrix: np.ndarray) -> Rows:
    """Rows of a distance matrix already in memory (tests, other tools' matrices)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    return lambda start, stop: matrix[start:stop]


# ---------------------------------------------------------------- one pass, several counters


class Counter(Protocol):
    def add(self, start: int, block: np.ndarray) -> None: ...


def scan(rows: Rows, count: int, *counters: Counter, chunk_rows: int = CHUNK_ROWS) -> None:
    """Compute the distance rows once, chunk by chunk, and give each chunk to every counter."""
    for start in range(0, count, chunk_rows):
        block = rows(start, min(start + chunk_rows, count))
        for counter in counters:
            counter.add(start, block)


# ---------------------------------------------------------------- closed world


class ClosedWorldCounter:
    """CMC and mAP of queries against a gallery (see the module's rules), one chunk at a time."""

    def __init__(
        self,
        q_pids: np.ndarray,
        q_camids: np.ndarray,
        g_pids: np.ndarray,
        g_camids: np.ndarray,
        ranks: tuple[int, ...] = RANKS,
    ) -> None:
        self.q_pids, self.q_camids = np.asarray(q_pids), np.asarray(q_camids)
        self.g_pids, self.g_camids = np.asarray(g_pids), np.asarray(g_camids)
        self.ranks = ranks
        self.first_hits: list[int] = []
        self.precisions: list[float] = []

    def add(self, start: int, block: np.ndarray) -> None:
        for offset, row in enumerate(block):
            pid, camid = self.q_pids[start + offset], self.q_camids[start + offset]
            if pid == DISTRACTOR:
                continue
            same = self.g_pids == pid
            kept = ~(same & (self.g_camids == camid))
            matches = np.sort(row[same & kept])
            if len(matches) == 0:
                continue
            first, average = _ranks_of_matches(matches, row[kept & ~same])
            self.first_hits.append(first)
            self.precisions.append(average)

    def result(self) -> ClosedWorld:
        queries = len(self.first_hits)
        hits = np.asarray(self.first_hits)
        return ClosedWorld(
            cmc={k: float((hits <= k).mean()) if queries else None for k in self.ranks},
            mAP=float(np.mean(self.precisions)) if queries else None,
            queries=queries,
            skipped=len(self.q_pids) - queries,
        )


def closed_world(
    rows: Rows,
    q_pids: np.ndarray,
    q_camids: np.ndarray,
    g_pids: np.ndarray,
    g_camids: np.ndarray,
    ranks: tuple[int, ...] = RANKS,
    chunk_rows: int = CHUNK_ROWS,
) -> ClosedWorld:
    """CMC at ``ranks`` and mAP of every query against the gallery (see the module's rules)."""
    counter = ClosedWorldCounter(q_pids, q_camids, g_pids, g_camids, ranks)
    scan(rows, len(counter.q_pids), counter, chunk_rows=chunk_rows)
    return counter.result()


def _ranks_of_matches(matches: np.ndarray, others: np.ndarray) -> tuple[int, float]:
    """(rank of the best match, average precision) of one query, ties counted against the model:
    a non-match at the same distance as a match is ranked before it.

    ``matches`` sorted; the k-th match (1-based) is ranked k + (non-matches at a distance at most
    its own). The first match k with matches[k] >= d is where a non-match at d starts to count
    (O(G log M), no full sort of the gallery)."""
    before = np.bincount(np.searchsorted(matches, others, side="left"), minlength=len(matches) + 1)
    place = np.arange(1, len(matches) + 1)
    rank = place + np.cumsum(before)[: len(matches)]
    return int(rank[0]), float(np.mean(place / rank))


# ---------------------------------------------------------------- open world


class OpenWorldCounter:
    """Every cross-camera pair (i < j) of one image set, classified "same person" when its
    distance is at most a threshold; fed the rows of the set's square distance matrix.

    ``positive_distances``: the distances of its positive pairs (same identity, not a distractor,
    other camera), computed per identity beforehand (``positive_pair_distances``), so that one
    pass over the matrix only counts the negatives at or below each candidate threshold. F1 is
    highest at a positive pair's distance (a threshold between two of them adds no true positive,
    only false ones), so those are the candidates; the counts are exact, not binned."""

    def __init__(
        self,
        positive_distances: np.ndarray,
        pids: np.ndarray,
        camids: np.ndarray,
        threshold: float | None = None,
    ) -> None:
        self.pids, self.camids = np.asarray(pids), np.asarray(camids)
        self.threshold = threshold
        self.positives = np.sort(np.asarray(positive_distances, dtype=np.float64))
        self.candidates = (
            self.positives
            if threshold is None
            else np.sort(np.append(self.positives, float(threshold)))
        )
        # per candidate threshold: the negative pairs at or below it
        self.false_positives = np.zeros(len(self.candidates), dtype=np.int64)
        self.pairs = 0

    def add(self, start: int, block: np.ndarray) -> None:
        stop = start + len(block)
        pids, camids = self.pids, self.camids
        later = np.arange(len(pids))[None, :] > np.arange(start, stop)[:, None]
        cross = later & (camids[start:stop, None] != camids[None, :])
        same = (pids[start:stop, None] == pids[None, :]) & (pids[start:stop, None] != DISTRACTOR)
        self.pairs += int(cross.sum())
        # Sorting the chunk's negatives and looking the candidates up in them is 3x faster than
        # looking each negative up among the candidates (measured on a chunk of the benchmark:
        # 3.9 M negatives, 230 k candidates: 0.30 s against 0.90 s).
        negatives = np.sort(block[cross & ~same])
        self.false_positives += np.searchsorted(negatives, self.candidates, side="right")

    def result(self) -> OpenWorld:
        positives, candidates = self.positives, self.candidates
        false_positives = self.false_positives
        true_positives = np.searchsorted(positives, candidates, side="right")
        at_positive = np.searchsorted(candidates, positives, side="left")
        tp, fp = true_positives[at_positive], false_positives[at_positive]
        best = None
        if len(positives):
            scores = _f1(tp, fp, len(positives))
            # the first maximum: the smallest such threshold
            best = _point(positives, tp, fp, len(positives), int(np.argmax(scores)))
        at_threshold = None
        if self.threshold is not None:
            k = int(np.searchsorted(candidates, self.threshold, side="left"))
            at_threshold = _point(candidates, true_positives, false_positives, len(positives), k)
        return OpenWorld(
            pairs=self.pairs,
            positives=len(positives),
            best=best,
            at_threshold=at_threshold,
            thresholds=positives,
            false_positives=fp,
            false_negatives=len(positives) - tp,
        )


def open_world(
    rows: Rows,
    positive_distances: np.ndarray,
    pids: np.ndarray,
    camids: np.ndarray,
    threshold: float | None = None,
    chunk_rows: int = CHUNK_ROWS,
) -> OpenWorld:
    """Precision, recall and F1 of cross-camera pairs (``OpenWorldCounter``) in one pass."""
    counter = OpenWorldCounter(positive_distances, pids, camids, threshold)
    scan(rows, len(counter.pids), counter, chunk_rows=chunk_rows)
    return counter.result()


def positive_pair_distances(
    features: np.ndarray, pids: np.ndarray, camids: np.ndarray, metric: str
) -> np.ndarray:
    """The distance of every cross-camera pair of the same identity (distractors excluded)."""
    features = prepare(features, metric)
    pids, camids = np.asarray(pids), np.asarray(camids)
    found = []
    for pid in np.unique(pids[pids != DISTRACTOR]):
        members = np.flatnonzero(pids == pid)
        block = distances(features[members], features[members], metric)
        cams = camids[members]
        upper = np.triu(np.ones(block.shape, dtype=bool), k=1) & (cams[:, None] != cams[None, :])
        found.append(block[upper])
    return np.concatenate(found) if found else np.zeros(0)


def positive_pairs_of_matrix(
    matrix: np.ndarray, pids: np.ndarray, camids: np.ndarray
) -> np.ndarray:
    """``positive_pair_distances`` read from a distance matrix already in memory."""
    pids, camids = np.asarray(pids), np.asarray(camids)
    upper = np.triu(np.ones(matrix.shape, dtype=bool), k=1)
    positive = (pids[:, None] == pids[None, :]) & (pids[:, None] != DISTRACTOR)
    return np.asarray(matrix, dtype=np.float64)[
        upper & positive & (camids[:, None] != camids[None, :])
    ]


def _f1(tp: np.ndarray, fp: np.ndarray, positives: int) -> np.ndarray:
    precision = np.divide(tp, tp + fp, out=np.zeros(len(tp)), where=(tp + fp) > 0)
    recall = tp / positives if positives else np.zeros(len(tp))
    total = precision + recall
    return np.divide(2 * precision * recall, total, out=np.zeros(len(tp)), where=total > 0)


def _point(
    thresholds: np.ndarray, tp: np.ndarray, fp: np.ndarray, positives: int, k: int
) -> OperatingPoint:
    t, f = int(tp[k]), int(fp[k])
    precision = t / (t + f) if t + f else 0.0
    recall = t / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return OperatingPoint(float(thresholds[k]), precision, recall, f1, t, f, positives - t)
