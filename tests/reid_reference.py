"""A slow, plain reference for the re-identification metrics, written independently of the
project's own implementation so that tests can check the fast one against it.

Everything here favours obviousness over speed: loops over queries and gallery items, counts taken
literally from the definitions. Nothing is imported from ``cyclist_dataset``.

Conventions (shared by every function):

* ``pids``: int64, ``1..M`` for labelled identities, ``0`` for distractors (never a match).
* ``camids``: int64, 0-based camera index.
* ``tracklets``: str, ``"c{cam}/t{n:03d}"``; a tracklet lies in one camera and has one pid.

Closed world (CMC / mAP), per query:

* a query with pid 0 is skipped (never evaluated);
* gallery items with the query's pid AND camid are removed (this removes the query itself when the
  query set is the gallery set);
* the matches are the kept gallery items with the query's pid (pid 0 items stay as negatives);
* a query with no match left is skipped;
* ties are pessimistic: the gallery is taken in the worst order its distances allow (by distance,
  a non-match before a match at an equal distance); the rank of a match is its place in that
  order, its precision (matches up to it) / (its rank); AP is the mean of those precisions over
  the matches;
* CMC@k is the share of valid queries whose best-ranked match has rank ``<= k``; mAP is the mean AP
  over valid queries. With no valid query both are reported as 0.0.

Open world (pair verification): every unordered cross-camera pair ``i < j`` is a candidate; it is
positive iff both pids are equal and non-zero; it is predicted a match iff ``dist[i, j] <= t``.
"""

from __future__ import annotations

import hashlib
from fractions import Fraction

import numpy as np

# ---------------------------------------------------------------------------------------------
# synthetic data


def synthetic_test_set(
    seed: int = 7,
    identities: int = 20,
    cameras: int = 4,
    distractor_tracklets: int = 15,
    dim: int = 16,
) -> dict:
    """A small deterministic re-identification test set (one ``np.random.default_rng(seed)``).

    First the layout is drawn: each labelled identity (pid ``1..identities``) appears in 1-3
    distinct cameras, with 1-2 tracklets per camera; each distractor tracklet (pid 0) lies in one
    camera; every tracklet has 2-8 images. Then the features: each identity and each distractor
    tracklet has a centre, each tracklet an offset from its centre and each image its own noise
    (image = centre + tracklet offset + noise), so cross-camera retrieval is neither perfect nor
    trivial; the scales put the best pair-verification thresholds near 1.0. Finally the images are
    shuffled (one permutation), so "the image with the smallest index" is not the generation order.

    Returns numpy arrays: ``features`` (N x dim float64), ``pids`` (int64), ``camids`` (int64),
    ``tracklets`` (str, ``"c{cam}/t{n:03d}"``, numbered per camera).
    """
    rng = np.random.default_rng(seed)
    centre_scale, tracklet_scale, image_scale = 0.2, 0.13, 0.11

    # layout: (pid, camera, images) per tracklet
    layout: list[tuple[int, int, int]] = []
    for pid in range(1, identities + 1):
        n_cams = int(rng.integers(1, min(3, cameras) + 1))  # 1..3
        for cam in rng.choice(cameras, size=n_cams, replace=False).tolist():
            for _ in range(int(rng.integers(1, 3))):  # 1..2 tracklets in this camera
                layout.append((pid, int(cam), int(rng.integers(2, 9))))  # 2..8 images
    for _ in range(distractor_tracklets):
        layout.append((0, int(rng.integers(0, cameras)), int(rng.integers(2, 9))))

    # features
    centres = {pid: rng.normal(0.0, centre_scale, size=dim) for pid in range(1, identities + 1)}
    per_camera_count = [0] * cameras
    features: list[np.ndarray] = []
    pids: list[int] = []
    camids: list[int] = []
    tracklets: list[str] = []
    for pid, cam, images in layout:
        name = f"c{cam}/t{per_camera_count[cam]:03d}"
        per_camera_count[cam] += 1
        if pid == 0:
            centre = rng.normal(0.0, centre_scale, size=dim)  # each distractor its own person
        else:
            centre = centres[pid]
        offset = rng.normal(0.0, tracklet_scale, size=dim)
        for _ in range(images):
            features.append(centre + offset + rng.normal(0.0, image_scale, size=dim))
            pids.append(pid)
            camids.append(cam)
            tracklets.append(name)

    order = rng.permutation(len(features))
    return {
        "features": np.asarray(features, dtype=np.float64)[order],
        "pids": np.asarray(pids, dtype=np.int64)[order],
        "camids": np.asarray(camids, dtype=np.int64)[order],
        "tracklets": np.asarray(tracklets, dtype=str)[order],
    }


def fingerprint(data: dict) -> str:
    """sha256 of a test set's arrays, so a fixture can tell that the generator still makes it."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(data["features"], dtype="<f8").tobytes())
    digest.update(np.ascontiguousarray(data["pids"], dtype="<i8").tobytes())
    digest.update(np.ascontiguousarray(data["camids"], dtype="<i8").tobytes())
    digest.update("\n".join(str(t) for t in data["tracklets"]).encode())
    return digest.hexdigest()


# ---------------------------------------------------------------------------------------------
# distances and averaging


def euclidean(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The plain Euclidean distance matrix (len(a) x len(b)), float64."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    diff = a[:, None, :] - b[None, :, :]
    return np.sqrt(np.sum(diff * diff, axis=2))


def tracklet_average(
    features: np.ndarray, pids: np.ndarray, camids: np.ndarray, tracklets: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The mean feature of each tracklet, sorted by tracklet name, with its pid and camid."""
    names = sorted({str(t) for t in tracklets})
    out_features, out_pids, out_camids = [], [], []
    for name in names:
        members = [i for i in range(len(tracklets)) if str(tracklets[i]) == name]
        member_pids = {int(pids[i]) for i in members}
        member_cams = {int(camids[i]) for i in members}
        if len(member_pids) != 1 or len(member_cams) != 1:
            raise ValueError(f"tracklet {name} mixes pids {member_pids} or cameras {member_cams}")
        out_features.append(np.mean(np.asarray(features, dtype=np.float64)[members], axis=0))
        out_pids.append(member_pids.pop())
        out_camids.append(member_cams.pop())
    return (
        np.asarray(out_features, dtype=np.float64),
        np.asarray(out_pids, dtype=np.int64),
        np.asarray(out_camids, dtype=np.int64),
        np.asarray(names, dtype=str),
    )


# ---------------------------------------------------------------------------------------------
# closed world: CMC and mAP


def query_ranking(
    dist_row: np.ndarray, q_pid: int, q_camid: int, g_pids: np.ndarray, g_camids: np.ndarray
) -> tuple[list[int], float] | None:
    """For one query: the pessimistic ranks of its matches and its AP, or None when it is skipped
    (a distractor query, or no match left in its gallery)."""
    if q_pid == 0:
        return None
    kept = [g for g in range(len(g_pids)) if not (g_pids[g] == q_pid and g_camids[g] == q_camid)]
    matches = [g for g in kept if g_pids[g] == q_pid]
    if not matches:
        return None

    # The worst order the distances allow: by distance, non-matches before matches at a tie.
    order = sorted(kept, key=lambda g: (dist_row[g], g_pids[g] == q_pid))
    ranks = []
    precisions = []
    for place, g in enumerate(order, 1):
        if g_pids[g] == q_pid:
            ranks.append(place)
            precisions.append(len(ranks) / place)
    return ranks, sum(precisions) / len(precisions)


def closed_world(
    dist: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    ranks: tuple[int, ...] = (1, 5, 10),
) -> dict:
    """CMC at ``ranks`` and mAP (see the module docstring for the rules).

    Returns ``{"cmc": {k: value}, "mAP": value, "queries": valid queries, "skipped": skipped}``.
    """
    dist = np.asarray(dist, dtype=np.float64)
    best_ranks: list[int] = []
    aps: list[float] = []
    skipped = 0
    for q in range(len(q_pids)):
        result = query_ranking(dist[q], int(q_pids[q]), int(q_camids[q]), g_pids, g_camids)
        if result is None:
            skipped += 1
            continue
        match_ranks, ap = result
        best_ranks.append(min(match_ranks))
        aps.append(ap)

    valid = len(aps)
    cmc = {}
    for k in ranks:
        hits = sum(1 for r in best_ranks if r <= k)
        cmc[k] = hits / valid if valid else 0.0
    mean_ap = sum(aps) / valid if valid else 0.0
    return {"cmc": cmc, "mAP": mean_ap, "queries": valid, "skipped": skipped}


# ---------------------------------------------------------------------------------------------
# open world: pair verification


def cross_camera_pairs(
    dist: np.ndarray, pids: np.ndarray, camids: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The distance and the positive flag of every unordered cross-camera pair i < j."""
    distances, positive = [], []
    n = len(pids)
    for i in range(n):
        for j in range(i + 1, n):
            if camids[i] == camids[j]:
                continue
            distances.append(float(dist[i, j]))
            positive.append(bool(pids[i] == pids[j] and pids[i] != 0))
    return np.asarray(distances, dtype=np.float64), np.asarray(positive, dtype=bool)


def _scores(tp: int, fp: int, fn: int, threshold: float) -> dict:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "threshold": float(threshold),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": int(tp),
        "fp": int(fp),
        "fn": int(fn),
    }


def pair_counts(distances: np.ndarray, positive: np.ndarray, threshold: float) -> dict:
    """Scores of the pairs at one threshold, counted directly (brute force)."""
    predicted = distances <= threshold
    tp = int(np.sum(predicted & positive))
    fp = int(np.sum(predicted & ~positive))
    fn = int(np.sum(~predicted & positive))
    return _scores(tp, fp, fn, threshold)


def open_world(
    dist: np.ndarray, pids: np.ndarray, camids: np.ndarray, threshold: float | None = None
) -> dict:
    """Pair-verification precision, recall and F1 over the cross-camera pairs of one image set.

    ``best`` is the candidate threshold (one of the cross-camera pair distances) with the largest
    F1, the smallest such threshold on equal F1 (compared exactly, as the fraction
    2TP / (2TP + FP + FN)); None when there are no cross-camera pairs. ``at_threshold`` (only when
    ``threshold`` is given) scores that threshold.
    """
    distances, positive = cross_camera_pairs(np.asarray(dist, dtype=np.float64), pids, camids)
    positives = int(np.sum(positive))

    # TP and predicted count at every candidate t, each counted as "how many pair distances are
    # <= t" with searchsorted(side="right") on the sorted distances: the same count as the brute
    # force pair_counts, done for all candidates at once.
    candidates = np.unique(distances)  # sorted ascending
    sorted_all = np.sort(distances)
    sorted_pos = np.sort(distances[positive])
    predicted = np.searchsorted(sorted_all, candidates, side="right")
    tps = np.searchsorted(sorted_pos, candidates, side="right")

    best = None
    best_f1 = Fraction(-1)
    for t, tp, pred in zip(candidates, tps, predicted, strict=True):
        tp, fp, fn = int(tp), int(pred - tp), int(positives - tp)
        denominator = 2 * tp + fp + fn
        f1 = Fraction(2 * tp, denominator) if denominator else Fraction(0)
        if f1 > best_f1:  # strict: on equal F1 the smaller (earlier) threshold stays
            best_f1 = f1
            best = _scores(tp, fp, fn, float(t))

    result = {"best": best, "positives": positives, "pairs": int(len(distances))}
    if threshold is not None:
        result["at_threshold"] = pair_counts(distances, positive, float(threshold))
    return result
