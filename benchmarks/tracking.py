"""The tracker, measured side by side in one run: ours (cyclist_dataset.stages.track) against a
plain greedy implementation of the thesis's Algorithm 1 (benchmarks/greedy_algorithm1.py).

    .venv/bin/python benchmarks/tracking.py [--workspace DEMO_WORKSPACE] [--repeat 3] \\
        [--skip-defaults]

(a) Throughput on one core (the process is pinned to one CPU, BLAS threads off), excluding I/O:
    detections/s and frames/s over (1) the real Radeberg detections the track stage gets (the kept
    boxes of all 7 clips, from the demo pipeline run with YOLOX-nano) repeated back to back, and
    (2) a synthetic stream of 20 simultaneous moving boxes. Best of --repeat runs.
(b) Quality against ground truth, HOTA / IDF1 / MOTA / ID switches by TrackEval (evaluation.py):
    TUD-Campus and TUD-Stadtmitte (a published tracker's boxes, ids dropped; and the gt boxes
    perturbed with seeded noise: jitter, dropped boxes and dropouts, false positives), MOT17-mini
    (its FRCNN det.txt, conf >= 0.5; its gt spans only the first 4-8 frames, so only those are
    scored), and the synthetic 20-box stream (crossings) against its own truth.
(c) The measurements behind TrackConfig's defaults (low_score_min, max_gap_s, min_boxes,
    gate_on_prediction) on the Radeberg clips and the LA sidewalk clip.

Without --workspace the demo pipeline's ingest, detect and filter stages run into a temporary
workspace first (about 10 s), and the LA clip's for (c) (about 15 s).
"""

from __future__ import annotations

import os

os.environ.setdefault("TQDM_DISABLE", "1")  # the pipeline's progress bars would bury the tables
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: no BLAS thread pools

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from greedy_algorithm1 import track_greedy  # noqa: E402

from cyclist_dataset.core.config import PipelineConfig, TrackConfig, load_pipeline  # noqa: E402
from cyclist_dataset.core.geometry import iou_matrix  # noqa: E402
from cyclist_dataset.core.roi import Roi, load_roi  # noqa: E402
from cyclist_dataset.io.mot import read_mot, tracks_frame  # noqa: E402
from cyclist_dataset.pipeline.run import run_pipeline  # noqa: E402
from cyclist_dataset.stages.track import (  # noqa: E402
    interpolate_gaps,
    low_score_candidates,
    track,
    track_video,
)
from cyclist_dataset.tools.track_eval import evaluate  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MOT = REPO.parent / "shared" / "assets" / "mot"
SEEDS = range(5)


@dataclass
class Stream:
    name: str
    ts: np.ndarray
    xyxy: np.ndarray
    truth: np.ndarray | None = None  # object id per row (synthetic only)

    @property
    def frames(self) -> int:
        return len(np.unique(self.ts))


# ----------------------------------------------------------------------------- inputs


def demo_workspace(tmp: Path, given: Path | None) -> PipelineConfig:
    config = load_pipeline(REPO / "pipelines" / "demo.toml", given or tmp / "demo")
    if given is None:
        print("running the demo pipeline's ingest, detect and filter stages ...", flush=True)
        report = run_pipeline(config, ("ingest", "detect", "filter"), log=lambda line: None)
        assert not report.failed, report.failed
    return config


def la_workspace(tmp: Path) -> tuple[PipelineConfig, Path]:
    """The LA sidewalk clip (pedestrians, whole-frame ROI), as tests/test_detect.py sets it up."""
    root = tmp / "la"
    (root / "roi" / "la_street").mkdir(parents=True)
    (root / "roi" / "la_street" / "cam1.json").write_text(
        json.dumps(
            {
                "image_width": 320,
                "image_height": 240,
                "include": [[[0, 0], [320, 0], [320, 240], [0, 240]]],
            }
        )
    )
    (root / "la.toml").write_text(
        'workspace = "ws"\nroi_dir = "roi"\n[location]\nname = "la_street"\n'
        'timezone = "America/Los_Angeles"\n[[cameras]]\nid = "cam1"\n[[videos]]\n'
        'camera = "cam1"\nasset = "footage/la_street/68position_001.mp4"\n'
        'start_time = 2019-06-01T12:00:00\n[detect]\nbackend = "yolox_onnx"\n'
        "[filter]\nmin_width_px = 10\nmax_aspect_ratio = 0.75\n"
        "[track]\nrequire_bicycle = false\n"
    )
    config = load_pipeline(root / "la.toml")
    print("running the LA clip's ingest, detect and filter stages ...", flush=True)
    report = run_pipeline(config, ("ingest", "detect", "filter"), log=lambda line: None)
    assert not report.failed, report.failed
    return config, config.workspace / "manifests" / "detections" / "68position_001.parquet"


def detections_of(config: PipelineConfig) -> dict[str, pa.Table]:
    return {
        v.video_id: pq.read_table(
            config.workspace / "manifests" / "detections" / f"{v.video_id}.parquet"
        )
        for v in config.videos
    }


def radeberg_stream(tables: dict[str, pa.Table], min_detections: int) -> Stream:
    """The kept boxes of every clip, clips back to back (1 s apart), repeated to min_detections."""
    parts = []
    for table in tables.values():
        kept = table.filter(table.column("kept"))
        xyxy = np.stack(
            [kept.column(c).to_numpy() for c in ("x1", "y1", "x2", "y2")], axis=1
        ).astype(float)
        parts.append(
            (
                kept.column("timestamp_s").to_numpy(),
                xyxy,
                table.column("timestamp_s").to_numpy().max(),
            )
        )
    per_pass = sum(len(p[0]) for p in parts)
    ts, boxes, offset = [], [], 0.0
    for _ in range(-(-min_detections // per_pass)):
        for t, xyxy, duration in parts:
            ts.append(t + offset)
            boxes.append(xyxy)
            offset += duration + 1.0
    return Stream("Radeberg kept boxes, repeated", np.concatenate(ts), np.concatenate(boxes))


def synthetic_stream(
    n_frames: int, n_objects: int = 20, fps: float = 20.0, seed: int = 0
) -> Stream:
    """n_objects boxes moving at constant speeds in horizontal lanes that overlap (so they cross),
    4 px jitter; an object leaving the 1920 px view comes back from the other side as a new one."""
    rng = np.random.default_rng(seed)
    y = rng.uniform(100, 700, n_objects)
    x = rng.uniform(0, 1800, n_objects)
    v = rng.uniform(60, 240, n_objects) * rng.choice([-1, 1], n_objects)
    w = rng.uniform(40, 90, n_objects)
    ident = np.arange(n_objects)
    next_id = n_objects
    ts, boxes, truth = [], [], []
    for f in range(n_frames):
        x = x + v / fps
        gone = (x < -100) | (x > 1920)
        for i in np.flatnonzero(gone):
            x[i] = 1910.0 if v[i] < 0 else -90.0
            ident[i], next_id = next_id, next_id + 1
        jitter = rng.normal(0, 2.0, (n_objects, 4))
        boxes.append(np.column_stack([x, y, x + w, y + 2.2 * w]) + jitter)
        ts.append(np.full(n_objects, f / fps))
        truth.append(ident.copy())
    return Stream(
        f"synthetic, {n_objects} simultaneous boxes",
        np.concatenate(ts),
        np.concatenate(boxes),
        np.concatenate(truth),
    )


# ----------------------------------------------------------------------------- (a) throughput


def best_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def throughput(streams: list[Stream], repeat: int) -> None:
    print(f"\n(a) throughput, one core, excluding I/O (best of {repeat})")
    print(
        f"{'stream':<38} {'detections':>10} {'frames':>7} | {'ours det/s':>11} {'frames/s':>9} | "
        f"{'greedy det/s':>12} {'frames/s':>9} | {'ours/greedy':>11}"
    )
    for s in streams:
        ours = best_time(lambda s=s: track(s.ts, s.xyxy), repeat)
        greedy = best_time(lambda s=s: track_greedy(s.ts, s.xyxy), repeat)
        n = len(s.ts)
        print(
            f"{s.name:<38} {n:>10} {s.frames:>7} | {n / ours:>11,.0f} {s.frames / ours:>9,.0f} | "
            f"{n / greedy:>12,.0f} {s.frames / greedy:>9,.0f} | {greedy / ours:>10.1f}x"
        )


# ----------------------------------------------------------------------------- (b) quality


def mot_rows(
    numbers_and_rows: list[tuple[int, np.ndarray]], frame: np.ndarray, xyxy: np.ndarray
) -> pd.DataFrame:
    if not numbers_and_rows:
        return tracks_frame(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0))
    rows = np.concatenate([r for _, r in numbers_and_rows])
    ids = np.concatenate([np.full(len(r), n) for n, r in numbers_and_rows])
    return tracks_frame(frame[rows], ids, xyxy[rows], np.ones(len(rows)))


# (frame, fps, xyxy, low) -> rows
Tracker = Callable[[np.ndarray, float, np.ndarray, np.ndarray], pd.DataFrame]


def ours(config: TrackConfig) -> Tracker:
    def run(frame: np.ndarray, fps: float, xyxy: np.ndarray, low: np.ndarray) -> pd.DataFrame:
        ts = (frame - 1) / fps
        result = track(
            ts, xyxy, config, frame, low_score=low if config.low_score_min is not None else None
        )
        parts = [mot_rows([(t.number, t.matched) for t in result.tracklets], frame, xyxy)]
        every = np.arange(1, frame.max() + 1)
        for t in result.tracklets:  # gap filling at every frame, as track_detections does
            at, boxes = interpolate_gaps(
                ts[t.matched],
                xyxy[t.matched],
                np.zeros(len(t.matched), bool),
                (every - 1) / fps,
                config.max_gap_s,
            )
            if at.size:
                parts.append(
                    tracks_frame(every[at], np.full(at.size, t.number), boxes, np.ones(at.size))
                )
        return pd.concat(parts, ignore_index=True)

    return run


def greedy(config: TrackConfig) -> Tracker:
    def run(frame: np.ndarray, fps: float, xyxy: np.ndarray, low: np.ndarray) -> pd.DataFrame:
        # Algorithm 1 has no second pass: low-score boxes are not given to it
        rows = np.flatnonzero(~low)
        tracklets = track_greedy((frame[rows] - 1) / fps, xyxy[rows], config)
        return mot_rows([(t.number, rows[t.matched]) for t in tracklets], frame, xyxy)

    return run


def perturb(gt: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Seeded detector noise on gt boxes: jitter (3% of the box size per coordinate), 10% of boxes
    dropped at random plus dropouts (each object, each frame: 3% chance of vanishing for 2-8
    frames), and on average 0.5 false boxes per frame (a random gt box's size, anywhere in the
    gt's extent)."""
    rng = np.random.default_rng(seed)
    rows = gt.copy()
    size = rows[["w", "h", "w", "h"]].to_numpy()
    rows[["x", "y", "w", "h"]] += rng.normal(0, 0.015, (len(rows), 4)) * size
    keep = rng.random(len(rows)) > 0.10
    for _, index in rows.groupby("id").groups.items():
        ordered = rows.loc[index].sort_values("frame")
        until = -1
        for i, f in zip(ordered.index, ordered["frame"], strict=True):
            if f <= until:
                keep[rows.index.get_loc(i)] = False
            elif rng.random() < 0.03:
                until = f + rng.integers(1, 8)
                keep[rows.index.get_loc(i)] = False
    rows = rows[keep & (rows["w"] > 1) & (rows["h"] > 1)]
    frames = np.arange(gt["frame"].min(), gt["frame"].max() + 1)
    n_false = rng.poisson(0.5, len(frames))
    pick = rng.integers(0, len(gt), n_false.sum())
    x = rng.uniform(gt["x"].min(), (gt["x"] + gt["w"]).max() - gt["w"].to_numpy()[pick])
    y = rng.uniform(gt["y"].min(), (gt["y"] + gt["h"]).max() - gt["h"].to_numpy()[pick])
    false = pd.DataFrame(
        {
            "frame": np.repeat(frames, n_false),
            "id": -1,
            "x": x,
            "y": y,
            "w": gt["w"].to_numpy()[pick],
            "h": gt["h"].to_numpy()[pick],
            "conf": 1.0,
        }
    )
    return pd.concat([rows[["frame", "id", "x", "y", "w", "h", "conf"]], false], ignore_index=True)


@dataclass
class Case:
    source: str
    sequence: str
    gt: pd.DataFrame
    det: pd.DataFrame
    fps: float
    score_min: float | None = None
    scored_frames: int | None = None  # evaluate only frames 1..this (MOT17-mini's short gt)


def quality_cases(synthetic: Stream) -> list[Case]:
    cases = []
    for seq in ("TUD-Campus", "TUD-Stadtmitte"):
        gt = read_mot(MOT / seq / "gt.txt")
        cases.append(
            Case("published tracker's boxes", seq, gt, read_mot(MOT / seq / "test.txt"), 25.0)
        )
        for seed in SEEDS:
            cases.append(
                Case("gt + seeded noise", f"{seq} seed {seed}", gt, perturb(gt, seed), 25.0)
            )
    for folder in sorted((MOT / "MOT17-mini").iterdir()):
        gt = read_mot(folder / "gt" / "gt.txt")
        cases.append(
            Case(
                "MOT17 FRCNN det.txt",
                folder.name,
                gt,
                read_mot(folder / "det" / "det.txt"),
                30.0,
                score_min=0.5,
                scored_frames=int(gt["frame"].max()),
            )
        )
    xywh = np.column_stack([synthetic.xyxy[:, :2], synthetic.xyxy[:, 2:] - synthetic.xyxy[:, :2]])
    frame = np.round(synthetic.ts * 20).astype(np.int64) + 1
    truth = pd.DataFrame(
        {
            "frame": frame,
            "id": synthetic.truth + 1,
            "x": xywh[:, 0],
            "y": xywh[:, 1],
            "w": xywh[:, 2],
            "h": xywh[:, 3],
            "conf": 1.0,
            "col8": -1.0,
            "col9": -1.0,
            "col10": -1.0,
        }
    )
    cases.append(
        Case(
            "synthetic crossings",
            "20 boxes, 20 fps",
            truth,
            truth[["frame", "id", "x", "y", "w", "h", "conf"]],
            20.0,
        )
    )
    return cases


def run_case(case: Case, tracker: Tracker, low_score_min: float | None) -> dict:
    det = case.det
    conf = det["conf"].to_numpy(float)
    high = np.ones(len(det), bool) if case.score_min is None else conf >= case.score_min
    low = ~high & (conf >= low_score_min) if low_score_min is not None else np.zeros(len(det), bool)
    det, low = det[high | low], low[high | low]
    frame = det["frame"].to_numpy()
    xywh = det[["x", "y", "w", "h"]].to_numpy(float)
    xyxy = np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])
    pred = tracker(frame, case.fps, xyxy, low)
    if case.scored_frames is not None:
        pred = pred[pred["frame"] <= case.scored_frames]
    scores = evaluate(case.gt, pred, seq_length=case.scored_frames)
    return {
        "HOTA": scores.hota,
        "IDF1": scores.idf1,
        "MOTA": scores.mota,
        "IDSW": scores.id_switches,
        "Frag": scores.fragmentations,
    }


def quality(synthetic: Stream) -> None:
    # Table II and MATCHBOXES only
    thesis = TrackConfig(gate_on_prediction=False, max_gap_s=0.0, min_boxes=1)
    trackers = {
        "greedy Alg. 1": (greedy(thesis), None),
        "ours, thesis gate, no gaps": (ours(thesis), None),
        "ours, no gap filling": (ours(TrackConfig(max_gap_s=0.0)), None),
        "ours (defaults)": (ours(TrackConfig()), None),
        "ours + low-score pass 0.1": (ours(TrackConfig(low_score_min=0.1)), 0.1),
    }
    print(
        "\n(b) quality against ground truth (TrackEval): ours vs greedy Algorithm 1, "
        "same thresholds (Table II)"
    )
    results = []
    for case in quality_cases(synthetic):
        for name, (tracker, low_min) in trackers.items():
            if low_min is not None and case.score_min is None:
                continue  # no confidences to split: the low-score pass has nothing to do
            results.append(
                {
                    "source": case.source,
                    "sequence": case.sequence,
                    "tracker": name,
                    **run_case(case, tracker, low_min),
                }
            )
    table = pd.DataFrame(results)
    summary = table.groupby(["source", "tracker"], sort=False).agg(
        sequences=("sequence", "nunique"),
        HOTA=("HOTA", "mean"),
        IDF1=("IDF1", "mean"),
        MOTA=("MOTA", "mean"),
        IDSW=("IDSW", "sum"),
        Frag=("Frag", "sum"),
    )
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(summary.to_string())
        per_sequence = table[table["source"] != "gt + seeded noise"].set_index(
            ["sequence", "tracker"]
        )
        print(f"\nper sequence (seeded noise: summed above over seeds {list(SEEDS)})")
        print(per_sequence.drop(columns="source").to_string())
    base = summary.xs("greedy Alg. 1", level="tracker")
    mine = summary.xs("ours (defaults)", level="tracker")
    verdict = pd.DataFrame(
        {
            "IDSW ours": mine["IDSW"],
            "IDSW greedy": base["IDSW"],
            "IDF1 ours": mine["IDF1"],
            "IDF1 greedy": base["IDF1"],
        }
    )
    verdict.loc["all"] = [
        verdict["IDSW ours"].sum(),
        verdict["IDSW greedy"].sum(),
        table.loc[table["tracker"] == "ours (defaults)", "IDF1"].mean(),
        table.loc[table["tracker"] == "greedy Alg. 1", "IDF1"].mean(),
    ]
    verdict["IDSW fewer"] = verdict["IDSW ours"] < verdict["IDSW greedy"]
    verdict["IDF1 >="] = verdict["IDF1 ours"] >= verdict["IDF1 greedy"] - 1e-12
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(
            "\nours (defaults) vs greedy (IDF1: mean over sequences and seeds)\n"
            + verdict.to_string()
        )


# ----------------------------------------------------------------------------- (c) defaults


def track_table(detections: pa.Table, config: TrackConfig, roi: Roi, filter_config) -> pd.DataFrame:
    table, _ = track_video(detections, config, "loc", "cam", roi=roi, filter_config=filter_config)
    return table.to_pandas()


def sizes(rows: pd.DataFrame) -> list[int]:
    return sorted(rows.groupby("tracklet_id").size().tolist(), reverse=True)


def defaults_measurements(demo: PipelineConfig, la: tuple[PipelineConfig, Path] | None) -> None:
    tables = detections_of(demo)
    roi = load_roi(demo.roi_path("cam1"))
    base = demo.track
    riders = [v for v, t in tables.items() if track_table(t, base, roi, demo.filter).shape[0]]
    print(
        "\n(c) the measurements behind TrackConfig's defaults (Radeberg clips; tracklet sizes in "
        "rows, interpolated ones included; other settings at their defaults)"
    )
    print(
        "\nlow_score_min (boxes dropped by the filter only for their score, >= this, "
        "extend unmatched tracks):"
    )
    for value in (None, 0.25, 0.3, 0.35):
        config = base.model_copy(update={"low_score_min": value})
        row = {v[-24:]: sizes(track_table(tables[v], config, roi, demo.filter)) for v in tables}
        extra = {
            v: sizes(track_table(tables[v], config, roi, demo.filter))
            for v in tables
            if v not in riders
        }
        print(
            f"  {str(value):>5}: "
            + "; ".join(f"{v}: {s}" for v, s in row.items() if s or v in riders)
            + ("" if not any(extra.values()) else "  (cars-only clips get tracklets!)")
        )
    if la is not None:
        la_config, la_path = la
        la_table = pq.read_table(la_path)
        la_roi = load_roi(la_config.roi_path("cam1"))
        for value in (None, 0.25):
            config = la_config.track.model_copy(update={"low_score_min": value, "min_boxes": 1})
            print(
                f"  LA sidewalk (pedestrians, cyclist rule off), low_score_min {value}: "
                f"{sizes(track_table(la_table, config, la_roi, la_config.filter))}"
            )

    print(
        "\nmax_gap_s: hold out k consecutive detected boxes of each real tracklet, interpolate "
        "them from the boxes around the gap, IOU with the held-out detector box:"
    )
    detected_only = base.model_copy(update={"max_gap_s": 0.0})
    paths = [
        rows.sort_values("timestamp_s")
        for v in riders
        for _, rows in track_table(tables[v], detected_only, roi, demo.filter).groupby(
            "tracklet_id"
        )
    ]
    for k in range(1, 10):
        ious = []
        for rows in paths:
            b, t = rows[["x1", "y1", "x2", "y2"]].to_numpy(float), rows["timestamp_s"].to_numpy()
            for i in range(1, len(rows) - k):
                w = ((t[i : i + k] - t[i - 1]) / (t[i + k] - t[i - 1]))[:, None]
                guess = (1 - w) * b[i - 1] + w * b[i + k]
                ious += [
                    iou_matrix(g[None], h[None])[0, 0]
                    for g, h in zip(guess, b[i : i + k], strict=True)
                ]
        ious = np.array(ious)
        print(
            f"  gap of {k} frame(s), {(k + 1) / 20:.2f} s between boxes: "
            f"median IOU {np.median(ious):.3f}, "
            f"10th percentile {np.percentile(ious, 10):.3f}, "
            f">= 0.7 in {np.mean(ious >= 0.7):.0%} (n={len(ious)})"
        )
    for value in (0.1, 0.3, 0.5):
        config = base.model_copy(update={"max_gap_s": value})
        filled = {
            v[-24:]: int(track_table(tables[v], config, roi, demo.filter)["interpolated"].sum())
            for v in riders
        }
        print(f"  max_gap_s {value}: interpolated rows {filled}")

    print("\nmin_boxes (tracklets that pass min_pickup_s and the cyclist rule):")
    for value in (1, 2, 3, 5):
        config = base.model_copy(update={"min_boxes": value})
        row = {v[-24:]: sizes(track_table(tables[v], config, roi, demo.filter)) for v in riders}
        line = f"  {value}: {row}"
        if la is not None:
            config = la_config.track.model_copy(update={"min_boxes": value})
            la_sizes = sizes(track_table(la_table, config, la_roi, la_config.filter))
            line += f"; LA sidewalk (cyclist rule off): {la_sizes}"
        print(line)

    print(
        "\ngate_on_prediction, at 20 fps and at 10 fps (every 2nd frame's detections): "
        "tracklet sizes"
    )
    for value in (False, True):
        config = base.model_copy(update={"gate_on_prediction": value})
        cells = []
        for v in riders:
            t = tables[v]
            half = t.filter(pa.array(t.column("frame_index").to_numpy() % 2 == 0))
            cells.append(
                f"{v[-24:]}: 20 fps {sizes(track_table(t, config, roi, demo.filter))}, "
                f"10 fps {sizes(track_table(half, config, roi, demo.filter))}"
            )
        print(f"  {value}: " + "; ".join(cells))
    candidates = {
        v[-24:]: int(
            low_score_candidates(
                t, base.model_copy(update={"low_score_min": 0.25}), roi, demo.filter
            ).sum()
        )
        for v, t in tables.items()
    }
    print(f"\n(low-score candidates >= 0.25 per clip: {candidates})")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workspace", type=Path, help="a demo workspace with the filter stage done"
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--detections", type=int, default=50_000, help="length of the throughput streams"
    )
    parser.add_argument("--skip-defaults", action="store_true", help="skip (c) and the LA clip")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        demo = demo_workspace(Path(tmp), args.workspace)
        synthetic = synthetic_stream(args.detections // 20)
        throughput([radeberg_stream(detections_of(demo), args.detections), synthetic], args.repeat)
        quality(synthetic_stream(1000))
        if not args.skip_defaults:
            defaults_measurements(demo, la_workspace(Path(tmp)))


if __name__ == "__main__":
    main()
