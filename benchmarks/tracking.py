"""The tracker, measured side by side in one run: ours (cyclist_dataset.stages.track) against
roboflow's `trackers` 2.6.1 (SORT, ByteTrack, OC-SORT, BoT-SORT, C-BIoU and McByte, the last two
without camera-motion compensation or masks: fixed cameras, boxes only; an optional dev
dependency) and a plain greedy implementation of the thesis's Algorithm 1
(benchmarks/greedy_algorithm1.py), all on the same detection streams.

    .venv/bin/python benchmarks/tracking.py [--workspace DEMO_WORKSPACE] [--repeat 3] \\
        [--skip-defaults]

(a) Quality against ground truth: TrackEval's HOTA, IDF1, ID switches and identity precision
    (IDP), and tracklet purity (the share of tracks whose boxes show one identity, >= 95%: what a
    re-ID dataset needs; tools/track_eval.purity). Streams: TUD-Campus and TUD-Stadtmitte (a
    published tracker's boxes, ids dropped; and the gt boxes perturbed with seeded noise: jitter,
    dropped boxes and dropouts, false positives), MOT17-mini (its FRCNN det.txt; boxes >= 0.5 are
    high, 0.1-0.5 low; its gt spans only the first 4-8 frames, so only those are scored), and a
    synthetic 20-box stream with crossings. Peers run with their defaults and with their score
    gates aligned to ours (activation and high-confidence thresholds = our high-score threshold,
    the same boxes given); where a stream has no scores the two are the same run.
(b) The Radeberg crossings on the detector's raw person boxes (no filter stage): how many ids
    each tracker gives the rider's boxes, and how many of them it leaves out.
(c) Speed of the update() loop on one core (the process is pinned to one CPU, BLAS threads off),
    detections/s, excluding I/O and building the per-frame inputs: ours (Tracker.update) against
    roboflow's ByteTrack and SORT on the same streams, and ours with the offline steps (track()).
(d) The measurements behind TrackConfig's defaults: low-score pass and stitching on the streams
    of (a), then low_score_min, max_gap_s, min_boxes and gate_on_prediction on the Radeberg clips
    and the LA sidewalk clip.

Without --workspace the demo pipeline's ingest, detect and filter stages run into a temporary
workspace first (about 10 s), and the LA clip's for (d) (about 15 s).
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
import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from greedy_algorithm1 import track_greedy  # noqa: E402

from cyclist_dataset.core.config import (  # noqa: E402
    DEFAULT_SCORE_MIN,
    PipelineConfig,
    TrackConfig,
    load_pipeline,
)
from cyclist_dataset.core.detections import Detections  # noqa: E402
from cyclist_dataset.core.geometry import iou_matrix  # noqa: E402
from cyclist_dataset.core.roi import Roi, load_roi  # noqa: E402
from cyclist_dataset.io.mot import mot_xyxy, read_mot, tracks_frame  # noqa: E402
from cyclist_dataset.pipeline.run import run_pipeline  # noqa: E402
from cyclist_dataset.stages.track import (  # noqa: E402
    Tracker,
    low_score_candidates,
    stitching,
    track,
    track_video,
)
from cyclist_dataset.stages.track.tracker import LOW_SCORE, hit_share  # noqa: E402
from cyclist_dataset.tools.track_eval import evaluate  # noqa: E402
from cyclist_dataset.tools.track_mot import track_detections  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
MOT = REPO.parent / "shared" / "assets" / "mot"
SEEDS = range(5)
MOT17_HIGH = 0.5  # MOT17 FRCNN det.txt: the score from which boxes are high
LOW_FLOOR = TrackConfig().low_score_min or 0.0  # the low-score pass floor: lower boxes not given
RADEBERG_HIGH = DEFAULT_SCORE_MIN["yolox_onnx"]  # the demo's filter score (README "Choosing ...")


@dataclass
class Stream:
    name: str
    ts: np.ndarray
    xyxy: np.ndarray
    truth: np.ndarray | None = None  # object id per row (synthetic only)
    score: np.ndarray | None = None

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


def raw_persons(table: pa.Table) -> pd.DataFrame:
    """Every person box the detector recorded (score >= detect.score_min), no filter rule."""
    rows = table.to_pandas()
    return rows[rows["class_name"] == "person"].reset_index(drop=True)


def radeberg_stream(tables: dict[str, pa.Table], min_detections: int) -> Stream:
    """The raw person boxes of every clip, clips back to back (1 s apart), repeated to
    min_detections."""
    parts = []
    for table in tables.values():
        persons = raw_persons(table)
        xyxy = persons[["x1", "y1", "x2", "y2"]].to_numpy(float)
        duration = table.column("timestamp_s").to_numpy().max()
        parts.append(
            (persons["timestamp_s"].to_numpy(), xyxy, persons["score"].to_numpy(), duration)
        )
    per_pass = sum(len(p[0]) for p in parts)
    ts, boxes, scores, offset = [], [], [], 0.0
    for _ in range(-(-min_detections // per_pass)):
        for t, xyxy, score, duration in parts:
            ts.append(t + offset)
            boxes.append(xyxy)
            scores.append(score)
            offset += duration + 1.0
    return Stream(
        "Radeberg raw person boxes, repeated",
        np.concatenate(ts),
        np.concatenate(boxes),
        score=np.concatenate(scores),
    )


def mot17_stream() -> Stream:
    """MOT17-04's FRCNN detections >= the low floor (the most crowded: ~26 boxes a frame)."""
    det = read_mot(MOT / "MOT17-mini" / "MOT17-04-FRCNN" / "det" / "det.txt")
    det = det[det["conf"] >= LOW_FLOOR].sort_values("frame", kind="stable")
    return Stream(
        "MOT17-04 FRCNN det.txt",
        (det["frame"].to_numpy() - 1) / 30.0,
        mot_xyxy(det),
        score=det["conf"].to_numpy(float),
    )


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


# ----------------------------------------------------------------------------- streams with truth


def best_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


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
                score_min=MOT17_HIGH,
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


# ----------------------------------------------------------------------------- the trackers
# Each tracker maps one sequence's detections (a MOTChallenge table: frame, x, y, w, h, conf) to
# MOTChallenge track rows. Confidences of -1 (files without scores) are given to peers as 1.0.


def ours(config: TrackConfig) -> Callable[[Case], pd.DataFrame]:
    def run(case: Case) -> pd.DataFrame:
        det = case.det
        if case.score_min is not None:  # the low-score pass takes boxes from the floor up
            floor = case.score_min if config.low_score_min is None else config.low_score_min
            det = det[det["conf"] >= floor]
        return track_detections(det, case.fps, config, score_min=case.score_min)

    return run


def greedy(config: TrackConfig) -> Callable[[Case], pd.DataFrame]:
    def run(case: Case) -> pd.DataFrame:
        # Algorithm 1 has no second pass: only the high-score boxes are given to it
        det = case.det if case.score_min is None else case.det[case.det["conf"] >= case.score_min]
        frame = det["frame"].to_numpy()
        xyxy = mot_xyxy(det)
        tracklets = track_greedy((frame - 1) / case.fps, xyxy, config)
        if not tracklets:
            return tracks_frame(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0))
        rows = np.concatenate([t.matched for t in tracklets])
        ids = np.concatenate([np.full(len(t.matched), t.number) for t in tracklets])
        return tracks_frame(frame[rows], ids, xyxy[rows], np.ones(len(rows)))

    return run


def roboflow_trackers(high: float | None) -> dict[str, Callable[[float], object]]:
    """roboflow's trackers by name, built for a frame rate: defaults (``high`` None) or with the
    score gates at ``high`` (the score from which ours starts tracks)."""
    import trackers as rf

    gates = {} if high is None else {"track_activation_threshold": high}
    both = {} if high is None else {**gates, "high_conf_det_threshold": high}
    no_cmc = {"enable_cmc": False}  # fixed cameras, and boxes only: no frames to estimate from
    return {
        "SORT": lambda fps: rf.SORTTracker(frame_rate=fps, **gates),
        "ByteTrack": lambda fps: rf.ByteTrackTracker(frame_rate=fps, **both),
        "OC-SORT": lambda fps: rf.OCSORTTracker(
            frame_rate=fps, **({} if high is None else {"high_conf_det_threshold": high})
        ),
        "BoT-SORT": lambda fps: rf.BoTSORTTracker(frame_rate=fps, **no_cmc, **both),
        "C-BIoU": lambda fps: rf.CBIoUTracker(frame_rate=fps, **both),
        "McByte": lambda fps: rf.McByteTracker(frame_rate=fps, **no_cmc, **both),
    }


def per_frame_inputs(frame: np.ndarray, xyxy: np.ndarray, conf: np.ndarray) -> list:
    """supervision Detections per frame 1..last (empty frames included: a peer counts frames)."""
    import supervision as sv

    order = np.argsort(frame, kind="stable")
    frame, xyxy, conf = frame[order], xyxy[order], conf[order]
    cuts = np.searchsorted(frame, np.arange(1, int(frame.max()) + 2))
    return [
        sv.Detections(
            xyxy=xyxy[a:b].astype(np.float32).reshape(-1, 4),
            confidence=conf[a:b].astype(np.float32),
        )
        for a, b in zip(cuts[:-1], cuts[1:], strict=True)
    ]


def peer(factory: Callable[[float], object], aligned: bool) -> Callable[[Case], pd.DataFrame]:
    def run(case: Case) -> pd.DataFrame:
        det = case.det
        if aligned and case.score_min is not None:  # the boxes ours is given, no fewer, no more
            det = det[det["conf"] >= LOW_FLOOR]
        conf = det["conf"].to_numpy(float)
        conf = np.where(conf < 0, 1.0, conf)
        tracker = factory(case.fps)
        parts = []
        for f, frame in enumerate(per_frame_inputs(det["frame"].to_numpy(), mot_xyxy(det), conf)):
            out = tracker.update(frame)  # type: ignore[attr-defined]
            kept = out.tracker_id >= 0  # -1: not (yet) a confirmed track
            if kept.any():
                parts.append(
                    tracks_frame(
                        np.full(kept.sum(), f + 1),
                        out.tracker_id[kept],
                        out.xyxy[kept].astype(float),
                        np.ones(kept.sum()),
                    )
                )
        if not parts:
            return tracks_frame(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0))
        return pd.concat(parts, ignore_index=True)

    return run


# ----------------------------------------------------------------------------- (a) quality


def score(case: Case, rows: pd.DataFrame) -> dict:
    if case.scored_frames is not None:
        rows = rows[rows["frame"] <= case.scored_frames]
    s = evaluate(case.gt, rows, seq_length=case.scored_frames)
    return {
        "HOTA": s.hota,
        "IDF1": s.idf1,
        "IDSW": s.id_switches,
        "IDP": s.idp,
        "purity": s.purity,
    }


OURS = "ours (defaults)"


def quality(cases: list[Case]) -> pd.DataFrame:
    thesis = TrackConfig(gate_on_prediction=False, max_gap_s=0.0, min_boxes=1)
    runs = {OURS: ours(TrackConfig()), "greedy Algorithm 1": greedy(thesis)}
    for name, factory in roboflow_trackers(None).items():
        runs[f"{name}, defaults"] = peer(factory, aligned=False)
    for name, factory in roboflow_trackers(MOT17_HIGH).items():
        runs[f"{name}, gates aligned"] = peer(factory, aligned=True)
    print(
        "\n(a) quality against ground truth (TrackEval; purity: share of tracks >= 95% one id). "
        "Means over sequences, ID switches summed."
    )
    results = []
    for case in cases:
        for name, run in runs.items():
            if name.endswith("defaults") and case.score_min is None:
                continue  # no scores: defaults and gates aligned are the same run
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                results.append({"source": case.source, "tracker": name, **score(case, run(case))})
    table = pd.DataFrame(results)
    summary = table.groupby(["source", "tracker"], sort=False).agg(
        HOTA=("HOTA", "mean"),
        IDF1=("IDF1", "mean"),
        IDSW=("IDSW", "sum"),
        IDP=("IDP", "mean"),
        purity=("purity", "mean"),
    )
    with pd.option_context("display.width", 160, "display.float_format", "{:.3f}".format):
        print(summary.to_string())
    verdict = []
    for source, rows in summary.groupby(level="source", sort=False):
        rows = rows.droplevel("source")
        mine = rows.loc[OURS]
        peers = rows[rows.index.str.endswith("gates aligned")]
        verdict.append(
            {
                "source": source,
                "HOTA ours": mine["HOTA"],
                "best peer": peers["HOTA"].max(),
                "IDF1 ours": mine["IDF1"],
                "best peer ": peers["IDF1"].max(),
                "IDSW ours": int(mine["IDSW"]),
                "fewest, peers": int(peers["IDSW"].min()),
                "purity ours": mine["purity"],
                "best peer  ": peers["purity"].max(),
                "ahead": bool(
                    mine["HOTA"] > peers["HOTA"].max()
                    and mine["IDF1"] > peers["IDF1"].max()
                    and mine["IDSW"] <= peers["IDSW"].min()
                ),
            }
        )
    with pd.option_context("display.width", 200, "display.float_format", "{:.3f}".format):
        print(
            "\nours against the best roboflow tracker with gates aligned, per stream (ahead: "
            "higher HOTA and IDF1, no more ID switches)\n"
            + pd.DataFrame(verdict).set_index("source").to_string()
        )
    return summary


# ----------------------------------------------------------------------------- (b) crossings

CROSSINGS = {  # video id: the frames of its rider's crossing (the demo's tracklet there)
    "radeberg_2020-02-20_12-11-17_cyclist": (0, 59),
    "Testvideo_FR20_2020-02-20_13-11-00": (95, 160),
}


def rider_rows(persons: pd.DataFrame, frames: tuple[int, int]) -> np.ndarray:
    """The rider's boxes: the filter's kept person boxes in the crossing's frames (test_tracking
    _quality checks that on this clip those are the rider's)."""
    inside = persons["frame_index"].between(*frames).to_numpy()
    return np.flatnonzero(inside & persons["kept"].to_numpy(bool))


def crossings(tables: dict[str, pa.Table]) -> None:
    print(
        "\n(b) the Radeberg crossings on the detector's raw person boxes (no filter stage): ids "
        "the rider's boxes get (boxes left without one)"
    )
    cells: dict[str, dict[str, str]] = {}
    for video_id, frames in CROSSINGS.items():
        persons = raw_persons(tables[video_id])
        rider = rider_rows(persons, frames)
        ts, xyxy = persons["timestamp_s"].to_numpy(), persons[["x1", "y1", "x2", "y2"]].to_numpy()
        conf = persons["score"].to_numpy(float)
        ids: dict[str, np.ndarray] = {}
        for name, low in (
            ("ours, every box high", None),
            (f"ours, boxes < {RADEBERG_HIGH} low", conf < RADEBERG_HIGH),
        ):
            assigned = np.zeros(len(persons), np.int64)
            for tl in track(ts, xyxy, TrackConfig(), low_score=low).tracklets:
                assigned[tl.matched] = tl.number
            ids[name] = assigned
        frame = persons["frame_index"].to_numpy() + 1
        for aligned in (False, True):
            factories = roboflow_trackers(RADEBERG_HIGH if aligned else None)
            for name, factory in factories.items():
                tracker = factory(20.0)
                assigned = np.zeros(len(persons), np.int64)
                inputs = per_frame_inputs(frame, xyxy, conf)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for f, detections in enumerate(inputs):
                        out = tracker.update(detections)  # type: ignore[attr-defined]
                        at = np.flatnonzero(frame == f + 1)
                        if not (len(out) and at.size):
                            continue
                        # output rows are input boxes (reordered): find each one's input row
                        same = iou_matrix(out.xyxy.astype(float), xyxy[at]) > 0.999
                        for k, row in enumerate(same.argmax(axis=1)):
                            if same[k].any() and out.tracker_id[k] >= 0:
                                assigned[at[row]] = out.tracker_id[k]
                ids[f"{name}, {'gates aligned' if aligned else 'defaults'}"] = assigned
        for name, assigned in ids.items():
            got = assigned[rider]
            cells.setdefault(name, {})[video_id[-20:]] = (
                f"{len(np.unique(got[got > 0]))} ({int((got == 0).sum())} of {len(rider)})"
            )
    print(pd.DataFrame(cells).T.to_string())


# ----------------------------------------------------------------------------- (c) speed


def speed_of(s: Stream, repeat: int) -> dict[str, float]:
    """Seconds (best of ``repeat``) per run over the stream."""
    import trackers as rf

    score = np.ones(len(s.ts)) if s.score is None else s.score
    high = MOT17_HIGH if "MOT17" in s.name else RADEBERG_HIGH
    order = np.argsort(s.ts, kind="stable")
    frames = np.split(order, np.flatnonzero(np.diff(s.ts[order]) != 0) + 1)
    no_names = np.full(len(s.ts), None, dtype=object)
    mine = [
        (
            Detections(s.xyxy[f], score[f], no_names[f], {LOW_SCORE: score[f] < high}),
            float(s.ts[f[0]]),
        )
        for f in frames
    ]
    frame_number = np.repeat(np.arange(1, len(frames) + 1), [len(f) for f in frames])
    theirs = per_frame_inputs(frame_number, s.xyxy[order], score[order])
    fps = 1.0 / float(np.median(np.diff(np.unique(s.ts))))
    tracker = Tracker()

    def run_ours() -> None:
        tracker.reset()
        for detections, t in mine:
            tracker.update(detections, t)

    def run_peer(make: Callable[[], object]) -> Callable[[], None]:
        def go() -> None:
            peer_tracker = make()
            for detections in theirs:
                peer_tracker.update(detections)  # type: ignore[attr-defined]

        return go

    gates = {"track_activation_threshold": high}
    return {
        "ours, Tracker.update": best_time(run_ours, repeat),
        "ours, track() (+ stitching)": best_time(
            lambda: track(s.ts, s.xyxy, low_score=score < high), repeat
        ),
        "roboflow ByteTrack": best_time(
            run_peer(
                lambda: rf.ByteTrackTracker(frame_rate=fps, high_conf_det_threshold=high, **gates)
            ),
            repeat,
        ),
        "roboflow SORT": best_time(
            run_peer(lambda: rf.SORTTracker(frame_rate=fps, **gates)), repeat
        ),
    }


def speed(streams: list[Stream], repeat: int) -> None:
    print(
        f"\n(c) speed of the update() loop, one core, detections/s (best of {repeat}); boxes "
        f"scoring below the stream's high threshold go to the low-score pass"
    )
    rows = []
    for s in streams:
        timed = speed_of(s, repeat)
        n = len(s.ts)
        ratio = timed["roboflow ByteTrack"] / timed["ours, Tracker.update"]
        rows.append(
            {
                "stream": f"{s.name} ({n:,} detections, {s.frames:,} frames)",
                **{name: f"{n / seconds:,.0f}" for name, seconds in timed.items()},
                "ours / ByteTrack": f"{ratio:.1f}x",
            }
        )
    with pd.option_context("display.width", 220, "display.max_colwidth", 60):
        print(pd.DataFrame(rows).set_index("stream").to_string())


# ----------------------------------------------------------------------------- (d) defaults


NO_DIRECTION_RULE = "stitching without the direction rule"
DIRECTED_SPEED = stitching.MIN_DIRECTED_SPEED


def defaults_on_quality_streams(cases: list[Case]) -> None:
    print(
        "\n(d) the low-score pass and stitching on the streams of (a) (ours; HOTA / IDF1 / ID "
        "switches; the low-score pass only acts on MOT17, the one stream with scores)"
    )
    variants = {
        "low-score pass off, no stitching": {"low_score_min": None, "stitch_max_gap_s": 0.0},
        "no stitching": {"stitch_max_gap_s": 0.0},
        "stitching <= 0.5 s": {"stitch_max_gap_s": 0.5},
        "defaults (stitching <= 1 s)": {},
        "stitching <= 1.5 s": {"stitch_max_gap_s": 1.5},
        "no stitching, expiration 1 s": {"stitch_max_gap_s": 0.0, "expiration_s": 1.0},
        "no sparse-track rule (min_hit_share 0)": {"min_hit_share": 0.0},
        "no hard Kalman gate (iou_kalman 0)": {"iou_kalman": 0.0},
        NO_DIRECTION_RULE: {},
    }
    cells: dict[str, dict[str, str]] = {}
    for name, update in variants.items():
        run = ours(TrackConfig(**update))
        if name == NO_DIRECTION_RULE:  # pieces moving apart may be joined: no speed is directed
            stitching.MIN_DIRECTED_SPEED = np.inf
        try:
            scores = pd.DataFrame([{"source": c.source, **score(c, run(c))} for c in cases])
        finally:
            stitching.MIN_DIRECTED_SPEED = DIRECTED_SPEED

        for source, rows in scores.groupby("source", sort=False):
            cells.setdefault(name, {})[source] = (
                f"{rows['HOTA'].mean():.3f} / {rows['IDF1'].mean():.3f} / {rows['IDSW'].sum()}"
            )
    with pd.option_context("display.width", 220):
        print(pd.DataFrame(cells).T.to_string())
    hit_shares([c for c in cases if c.source == "gt + seeded noise"])


def hit_shares(cases: list[Case]) -> None:
    """min_hit_share: the share of frames with a box, for the online tracks (before the offline
    steps) of the noisy-gt streams that last min_pickup_s, false ones (mostly false positives)
    against real ones."""
    config = TrackConfig()
    false, real = [], []
    for case in cases:
        det = case.det.sort_values("frame", kind="stable").reset_index(drop=True)
        ts, xyxy, truth = (det["frame"].to_numpy() - 1) / case.fps, mot_xyxy(det), det["id"]
        every_frame = np.arange(int(case.gt["frame"].max())) / case.fps
        tracker = Tracker(config)
        cuts = np.flatnonzero(np.diff(ts) != 0) + 1
        no_names = np.full(len(ts), None, dtype=object)
        for rows in np.split(np.arange(len(ts)), cuts):
            tracker.update(Detections(xyxy[rows], np.ones(len(rows)), no_names[rows]), ts[rows[0]])
        for tr in tracker.tracks:
            if tr.last_time - tr.first_time < config.min_pickup_s - 1e-9:
                continue
            share = hit_share(tr, ts, every_frame)
            (false if (truth.to_numpy()[tr.matched] == -1).mean() > 0.5 else real).append(share)
    false_a, real_a = np.array(false), np.array(real)
    print(
        f"\nmin_hit_share: online tracks lasting >= {config.min_pickup_s} s on the noisy-gt "
        f"streams: {len(false_a)} false ones (most boxes false positives), share of frames with a "
        f"box >= 0.5 in {(false_a >= 0.5).sum()}; {len(real_a)} real ones, >= 0.5 in "
        f"{(real_a >= 0.5).sum()} (lowest {np.sort(real_a)[:3].round(2).tolist()})"
    )


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
        "\n(d, continued) the measurements behind TrackConfig's defaults (Radeberg clips; tracklet "
        "sizes in rows, interpolated ones included; other settings at their defaults)"
    )
    print(
        "\nlow_score_min (boxes dropped by the filter only for their score, >= this, "
        "extend unmatched tracks):"
    )
    for value, stitch in ((None, 0.0), (0.1, 0.0), (None, None), (0.1, None), (0.3, None)):
        update = {"low_score_min": value}
        if stitch is not None:
            update["stitch_max_gap_s"] = stitch
        config = base.model_copy(update=update)
        row = {v[-24:]: sizes(track_table(tables[v], config, roi, demo.filter)) for v in tables}
        extra = {
            v: sizes(track_table(tables[v], config, roi, demo.filter))
            for v in tables
            if v not in riders
        }
        print(
            f"  {str(value):>5}{', no stitching' if stitch is not None else ', stitching':<15}: "
            + "; ".join(f"{v}: {s}" for v, s in row.items() if s or v in riders)
            + ("" if not any(extra.values()) else "  (cars-only clips get tracklets!)")
        )
    if la is not None:
        la_config, la_path = la
        la_table = pq.read_table(la_path)
        la_roi = load_roi(la_config.roi_path("cam1"))
        for value in (None, 0.1):
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
        "--detections", type=int, default=50_000, help="length of the repeated speed streams"
    )
    parser.add_argument("--skip-defaults", action="store_true", help="skip (d) and the LA clip")
    args = parser.parse_args()
    try:
        import trackers  # noqa: F401
    except ModuleNotFoundError:
        sys.exit("roboflow's trackers are not installed: pip install -e '.[dev]'")
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    with tempfile.TemporaryDirectory(prefix="bench-tracking-") as tmp:
        demo = demo_workspace(Path(tmp), args.workspace)
        tables = detections_of(demo)
        cases = quality_cases(synthetic_stream(1000))
        quality(cases)
        crossings(tables)
        speed(
            [
                radeberg_stream(tables, args.detections),
                mot17_stream(),
                synthetic_stream(args.detections // 20),
            ],
            args.repeat,
        )
        if not args.skip_defaults:
            defaults_on_quality_streams(cases)
            defaults_measurements(demo, la_workspace(Path(tmp)))


if __name__ == "__main__":
    main()
