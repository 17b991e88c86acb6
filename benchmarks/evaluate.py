"""The evaluation at the thesis's test-set size: time and peak memory, side by side with the
usual full-matrix way (the whole distance matrix in memory, every row argsorted: torchreid's
``evaluate_rank``; every cross-camera pair sorted for the open world).

    .venv/bin/python benchmarks/evaluate.py [--images 15161] [--identities 261] [--dim 512]

A synthetic test set of thesis Table IV's size: ``--images`` test images, ``--identities``
labelled identities over 4 cameras per location (3 locations), 1-2 tracklets per identity and
camera, plus distractor tracklets (a quarter of the images). Each variant runs in its own process
(its own peak RSS) on the same features:

1. ours: everything ``cyclist-dataset evaluate`` computes (thesis protocol per image and per
   tracklet: CMC, mAP and open-world F1; Market query/gallery per image and per tracklet),
   distance rows in chunks of ``metrics.CHUNK_ROWS``;
2. full matrix, the thesis protocol per image only (a subset of 1): the whole float32 matrix,
   torchreid's ``evaluate_rank`` (its Cython path where built, else Python), and all cross-camera
   pairs sorted for the best F1. Skipped without torchreid.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def synthetic(images: int, identities: int, dim: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    rows: list[tuple[int, int, str]] = []
    labelled = int(images * 0.75)
    per_identity = labelled // identities
    for pid in range(1, identities + 1):
        location = pid % 3
        cameras = rng.choice(4, size=int(rng.integers(2, 5)), replace=False)
        for index in range(per_identity):
            camera = int(cameras[index % len(cameras)])
            tracklet = f"{pid}-{camera}-{index % (2 * len(cameras)) // len(cameras)}"
            rows.append((pid, 4 * location + camera, tracklet))
    n = 0
    while len(rows) < images:
        camera = int(rng.integers(12))
        rows += [(0, camera, f"d{n}")] * min(8, images - len(rows))
        n += 1
    pids = np.array([r[0] for r in rows])
    camids = np.array([r[1] for r in rows])
    tracklets = np.array([r[2] for r in rows])
    # weak identity signal against tracklet and image noise: rank-1 well below 100%
    centres = rng.normal(scale=0.3, size=(identities + 1, dim))
    names, inverse = np.unique(tracklets, return_inverse=True)
    offsets = rng.normal(scale=0.5, size=(len(names), dim))
    features = centres[pids] + offsets[inverse] + rng.normal(scale=0.7, size=(len(rows), dim))
    distractor = pids == 0
    features[distractor] = (
        rng.normal(size=(int(distractor.sum()), dim)) + offsets[inverse][distractor]
    )
    is_query = np.zeros(len(rows), bool)
    seen: set[tuple[int, int]] = set()
    for i, (pid, camid) in enumerate(zip(pids, camids, strict=True)):
        if pid and (pid, camid) not in seen:
            seen.add((pid, camid))
            is_query[i] = True
    return {
        "features": (features / np.linalg.norm(features, axis=1, keepdims=True)).astype(np.float32),
        "pids": pids,
        "camids": camids,
        "tracklets": tracklets,
        "is_query": is_query,
    }


def ours(data: dict) -> dict:
    from cyclist_dataset.dataset.evaluation.protocols import ImageSet, evaluate_images

    images = ImageSet(data["features"], data["pids"], data["camids"], data["tracklets"])
    start = time.perf_counter()
    closed, opened = evaluate_images(images, data["is_query"], threshold=0.9)
    seconds = time.perf_counter() - start
    thesis = closed["thesis"]["images"]
    return {
        "seconds": seconds,
        "rank1": thesis.cmc[1],
        "mAP": thesis.mAP,
        "f1": opened["images"].best.f1 if opened["images"].best else None,
    }


def full_matrix(data: dict) -> dict:
    import torchreid

    features, pids, camids = data["features"], data["pids"], data["camids"]
    start = time.perf_counter()
    squared = (features**2).sum(1)
    matrix = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * features @ features.T, 0))
    labelled = pids != 0
    cmc, mean_ap = torchreid.metrics.evaluate_rank(
        matrix[labelled], pids[labelled], pids, camids[labelled], camids, max_rank=10
    )
    upper = np.triu(np.ones(matrix.shape, bool), k=1) & (camids[:, None] != camids[None, :])
    distances = matrix[upper]
    positive = ((pids[:, None] == pids[None, :]) & (pids[:, None] != 0))[upper]
    order = np.argsort(distances, kind="stable")
    tp = np.cumsum(positive[order])
    fp = np.arange(1, len(order) + 1) - tp
    f1 = 2 * tp / (tp + fp + positive.sum())
    return {
        "seconds": time.perf_counter() - start,
        "rank1": float(cmc[0]),
        "mAP": float(mean_ap),
        "f1": float(f1.max()),
    }


def child(variant: str, images: int, identities: int, dim: int) -> None:
    data = synthetic(images, identities, dim)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = {"ours": ours, "full": full_matrix}[variant](data)
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["data_mib"] = before / 1024
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=15161)
    parser.add_argument("--identities", type=int, default=261)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--child", choices=("ours", "full"))
    args = parser.parse_args()
    if args.child:
        child(args.child, args.images, args.identities, args.dim)
        return
    print(
        f"synthetic test set: {args.images} images, {args.identities} identities, "
        f"{args.dim}-d features"
    )
    results = {}
    for variant in ("ours", "full"):
        if variant == "full":
            # not imported here: a child would inherit this process's peak RSS
            if importlib.util.find_spec("torchreid") is None:
                print("full matrix: skipped (torchreid not installed)")
                continue
        output = subprocess.run(
            [
                sys.executable,
                __file__,
                "--child",
                variant,
                "--images",
                str(args.images),
                "--identities",
                str(args.identities),
                "--dim",
                str(args.dim),
            ],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        results[variant] = json.loads(output.strip().splitlines()[-1])
        r = results[variant]
        print(
            f"{variant:>5}: {r['seconds']:6.1f} s, peak RSS {r['peak_mib']:7.0f} MiB "
            f"(features and set-up {r['data_mib']:.0f} MiB); thesis images rank-1 "
            f"{100 * r['rank1']:.2f}%, mAP {100 * r['mAP']:.2f}%, best F1 {100 * r['f1']:.2f}%"
        )
    if len(results) == 2:
        a, b = results["ours"], results["full"]
        print(
            f"ours computes all 4 protocols x levels in {b['seconds'] / a['seconds']:.1f}x less "
            f"time than the full matrix needs for 1, with "
            f"{(b['peak_mib'] - b['data_mib']) / max(a['peak_mib'] - a['data_mib'], 1):.1f}x "
            "less memory above the set-up"
        )


if __name__ == "__main__":
    main()
