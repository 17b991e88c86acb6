"""The labelling app: how fast it answers on a large location, and how good its candidates are.

    .venv/bin/python benchmarks/annotate.py [--tracklets 5000] [--crops-per-tracklet 20]
                                            [--repeat 20] [--skip-quality]

1. Speed, on a synthetic location of ``--tracklets`` validation tracklets at 4 cameras over 3
   hours (100,000 crops by default), through the app's routes in-process (Starlette's test
   client: routing, the session, template rendering; no network): the queue page (first page,
   a camera + status filter, a later page), a tracklet's candidates (JSON and the whole page), one
   action (saved to the draft). Median and maximum over ``--repeat`` requests. Targets: queue
   < 1 s, candidates < 200 ms. Embeddings are seeded (the one-off embedding pass reads images:
   its rate is measured apart, on the multicam crops). Opening the session is timed too.
2. Candidate quality, on the multicam workspace (pipelines/multicam_lab.toml, run if needed) with
   its labels (tests/fixtures/multicam_labels.csv): of the true cross-camera links (a labelled
   tracklet T and another camera C where T's identity was also seen), the share whose top 3
   candidates at C hold that identity, and whose first candidate at C has it; for the default
   weighting and others from time only to appearance only (why APPEARANCE_WEIGHT is what it is).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.dataset.labels import Session, import_labels
from cyclist_dataset.dataset.labels import candidates as ranking
from cyclist_dataset.dataset.labels.candidates import ColourStatistics, EmbeddingCache
from cyclist_dataset.dataset.labels.tracklets import tracklet_table
from cyclist_dataset.pipeline.run import run_pipeline

REPO = Path(__file__).resolve().parents[1]
CAMERAS = ("north", "east", "south", "west")


def synthetic_location(root: Path, n_tracklets: int, per_tracklet: int) -> Path:
    """A workspace whose split manifest holds one location's validation tracklets (no images but
    the ones a page shows are never fetched by the benchmark)."""
    rng = np.random.default_rng(0)
    start = datetime(2024, 5, 6, 8, 0, tzinfo=UTC)
    rows: dict[str, list] = {name: [] for name in schemas.CROPS.names}
    for i in range(n_tracklets):
        camera = CAMERAS[i % len(CAMERAS)]
        t0 = float(rng.uniform(0, 3 * 3600))
        first = int(t0 * 10)
        for k in range(per_tracklet):
            frame = first + 5 * k
            x = float(rng.uniform(0, 1000))
            values = {
                "crop_path": f"crops/big/{camera}/big_{camera}_t{i:05d}/{frame}.jpg",
                "location": "big",
                "camera": camera,
                "tracklet_id": f"big_{camera}_t{i:05d}",
                "video_id": f"big_{camera}",
                "frame_index": frame,
                "timestamp_s": frame / 10,
                "timestamp": start + timedelta(seconds=frame / 10),
                "interpolated": False,
                "x1": x,
                "y1": 100.0,
                "x2": x + 60,
                "y2": 260.0,
                "model": "synthetic",
                "anonymization": "{}",
                "split": "validation",
            }
            for name in rows:
                rows[name].append(values.get(name))
    (root / "manifests" / "crops").mkdir(parents=True)
    pq.write_table(schemas.table(schemas.CROPS, rows), root / "manifests" / "crops" / "big.parquet")
    # seeded embeddings: what the one-off pass would have cached
    crops = pd.read_parquet(root / "manifests" / "crops")
    tracklets = tracklet_table(crops)
    cache = EmbeddingCache(root, ColourStatistics())
    vectors = rng.random((len(tracklets), 80)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    for key, vector in zip(
        [f"{t}:{f}" for t, f in zip(tracklets.index, tracklets["fingerprint"], strict=True)],
        vectors,
        strict=True,
    ):
        cache.known[key] = vector
    cache._save()
    return root


def timed(call, repeat: int) -> tuple[float, float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds), max(seconds)


def speed(n_tracklets: int, per_tracklet: int, repeat: int) -> None:
    from fastapi.testclient import TestClient

    from cyclist_dataset.web.app import create_app

    with tempfile.TemporaryDirectory() as tmp:
        root = synthetic_location(Path(tmp) / "ws", n_tracklets, per_tracklet)
        started = time.perf_counter()
        session = Session(root, "big", "bench")
        opened = time.perf_counter() - started
        client = TestClient(create_app(session))
        ids = list(session.tracklets.index)
        rng = np.random.default_rng(1)
        chosen = iter(rng.choice(ids, size=4 * repeat))

        def ok(response):
            assert response.status_code == 200, response.text
            return response

        rows = [
            ("open the session (crops, tracklets, draft)", (opened, opened)),
            ("queue page, first", timed(lambda: ok(client.get("/queue")), repeat)),
            (
                "queue page, camera + status filter",
                timed(lambda: ok(client.get("/queue?camera=east&status=unlabelled")), repeat),
            ),
            ("queue page 50", timed(lambda: ok(client.get("/queue?page=50")), repeat)),
            (
                "candidates (JSON)",
                timed(lambda: ok(client.get(f"/api/tracklets/{next(chosen)}")), repeat),
            ),
            (
                "tracklet page (candidates + crops)",
                timed(lambda: ok(client.get(f"/tracklets/{next(chosen)}")), repeat),
            ),
            (
                "one action (new identity, saved)",
                timed(
                    lambda: ok(
                        client.post("/api/actions", json={"op": "new", "tracklet_id": next(chosen)})
                    ),
                    repeat,
                ),
            ),
        ]
        crops = len(session.crops)
        print(
            f"\n1. Speed: {len(ids)} validation tracklets, {crops} crops, {len(CAMERAS)} cameras, "
            f"median / max of {repeat}"
        )
        print(f"{'':44} {'median ms':>10} {'max ms':>10}")
        for name, (median, worst) in rows:
            print(f"{name:44} {median * 1000:10.1f} {worst * 1000:10.1f}")


def quality() -> None:
    config = load_pipeline(REPO / "pipelines" / "multicam_lab.toml")
    run_pipeline(config, log=lambda line: None)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ws"
        shutil.copytree(config.workspace / "manifests", root / "manifests")
        shutil.copytree(config.workspace / "crops", root / "crops")
        shutil.copytree(config.workspace / "locations", root / "locations")
        import_labels(root, REPO / "tests" / "fixtures" / "multicam_labels.csv")
        started = time.perf_counter()
        session = Session(root, "multicam_lab", "bench")
        embedded = time.perf_counter() - started
        identity_of = {
            t: {p["identity"] for p in session.record(t)["parts"] if p["status"] == "person"}
            for t in session.tracklets.index
        }
        cameras = session.tracklets["camera"]
        print(
            f"\n2. Candidate quality: multicam_lab, {len(session.tracklets)} tracklets; session "
            f"opened (colour embeddings of {session.crops['tracklet_id'].nunique()} tracklets, "
            f"{len(session.crops)} crops) in {embedded:.2f} s"
        )
        print(f"{'weighting':34} {'links in the top 3 of their camera':>36} {'top 1':>14}")
        for name, weight in (
            (f"default (appearance {ranking.APPEARANCE_WEIGHT})", ranking.APPEARANCE_WEIGHT),
            ("time only", 0.0),
            ("appearance 0.3", 0.3),
            ("appearance 0.9", 0.9),
            ("appearance only", 1.0),
        ):
            session.index.appearance_weight = weight
            found = first = total = 0
            for tracklet_id, mine in identity_of.items():
                for identity in mine:
                    by_camera, _ = session.index.candidates(tracklet_id, per_camera=3)
                    for camera in set(cameras) - {cameras[tracklet_id]}:
                        truth = [
                            t
                            for t, ids in identity_of.items()
                            if cameras[t] == camera and identity in ids
                        ]
                        if not truth:
                            continue
                        total += 1
                        top = [c.tracklet_id for c in by_camera.get(camera, [])]
                        found += any(t in top for t in truth)
                        first += bool(top) and top[0] in truth
            print(
                f"{name:34} {found:>24} of {total} ({found / total:.0%}) "
                f"{first:>6} ({first / total:.0%})"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tracklets", type=int, default=5000)
    parser.add_argument("--crops-per-tracklet", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--skip-quality", action="store_true")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    speed(args.tracklets, args.crops_per_tracklet, args.repeat)
    if not args.skip_quality:
        quality()


if __name__ == "__main__":
    main()
