"""Detect-stage throughput on the Radeberg clips, measured side by side in one run.

    make bench        (or: .venv/bin/python benchmarks/run.py [--repeat 3] [--skip-faster-rcnn])

YOLOX-nano (onnxruntime, CPU): frames/s for (a) decoding only, (b) inference only on the same
preprocessed frames (the detector's own session), (c) the detect stage end to end (decode and
preprocessing in a background thread, batches, post-processing, rider-bicycle pairing), and the
ratio c / min(a, b): how much our code adds over the two costs no implementation can avoid.

Faster R-CNN (torchvision, CPU): frames/s per batch size (1, 2, 4) at torchvision's default input
size (shorter side 800 px: 800x600 frames run at 1067x800), so users can plan GPU/CPU time.
Random weights: the network's cost does not depend on the weights' values, and the COCO weights
cannot be downloaded on the offline development machine.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cyclist_dataset.core.config import RuntimeConfig, YoloxConfig
from cyclist_dataset.io import assets, video
from cyclist_dataset.stages.detect import detect_frames, make_detector

MODEL = "models/yolox_nano.onnx"
CLIPS = [name for name in assets.REGISTRY if name.startswith("footage/radeberg/")]


RUNTIME = RuntimeConfig()  # the defaults a pipeline gets


def _frames():
    for name in CLIPS:
        path = assets.path(name)
        yield from video.frames(path, video.probe(path).fps)


def decode_only() -> float:
    start, count = time.perf_counter(), sum(1 for _ in _frames())
    return count / (time.perf_counter() - start)


def inference_only_default_session(blobs: list[np.ndarray]) -> float:
    """onnxruntime as it comes: one session, its default threads, frame by frame."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(assets.path(MODEL)), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    start = time.perf_counter()
    for blob in blobs:
        session.run(None, {name: blob[None]})
    return len(blobs) / (time.perf_counter() - start)


def inference_only_ours(detector, blobs: list[np.ndarray], batch_size: int) -> float:
    """The detector's own inference (one single-threaded session per core), nothing else."""
    stacked = np.stack(blobs)
    start = time.perf_counter()
    for i in range(0, len(blobs), batch_size):
        detector.infer(stacked[i : i + batch_size])
    return len(blobs) / (time.perf_counter() - start)


def end_to_end(detector, config: YoloxConfig, frame_count: int) -> float:
    start = time.perf_counter()
    detect_frames(_frames(), detector, "bench", config, RUNTIME)
    return frame_count / (time.perf_counter() - start)


def faster_rcnn(architecture: str, frames: list[np.ndarray], batch_size: int) -> float:
    from cyclist_dataset.stages.detect.faster_rcnn import FasterRcnnDetector

    detector = FasterRcnnDetector(architecture, weights=None, score_min=0.5, device="cpu")
    prepared = [detector.prepare(frame) for frame in frames]
    detector.detect_prepared(prepared[:1])  # warm-up: first call allocates
    start = time.perf_counter()
    for i in range(0, len(prepared), batch_size):
        detector.detect_prepared(prepared[i : i + batch_size])
    return len(prepared) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement; the median is reported"
    )
    parser.add_argument(
        "--skip-faster-rcnn", action="store_true", help="only the YOLOX measurements"
    )
    args = parser.parse_args()
    config = YoloxConfig(model=MODEL)
    detector = make_detector(config, RUNTIME)
    blobs = [detector.preprocess(frame.image)[0] for frame in _frames()]
    results: dict[str, list[float]] = {
        "a_decode": [],
        "b_inference_default": [],
        "b_inference_ours": [],
        "c_detect_stage": [],
    }
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits all of them alike
        results["a_decode"].append(decode_only())
        results["b_inference_default"].append(inference_only_default_session(blobs))
        results["b_inference_ours"].append(inference_only_ours(detector, blobs, RUNTIME.batch_size))
        results["c_detect_stage"].append(end_to_end(detector, config, len(blobs)))
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(
        f"YOLOX-nano (onnxruntime CPU, {len(detector.sessions)} session(s)), "
        f"{len(blobs)} frames of "
        f"{len(CLIPS)} Radeberg clips, batch {RUNTIME.batch_size}, median of {args.repeat} runs"
    )
    for name, value in medians.items():
        print(f"  {name:<20} {value:8.1f} frames/s")
    c = medians["c_detect_stage"]
    for b in ("b_inference_default", "b_inference_ours"):
        print(
            f"  ratio c / min(a, {b}): "
            f"{c / min(medians['a_decode'], medians[b]):.2f}   (target >= 0.85)"
        )
    if args.skip_faster_rcnn:
        return
    frames = [frame.image for _, frame in zip(range(4), _frames(), strict=False)]
    for architecture in ("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_mobilenet_v3_large_fpn"):
        rates = {b: faster_rcnn(architecture, frames, b) for b in (1, 2, 4)}
        print(
            f"Faster R-CNN {architecture} "
            "(CPU, 800x600 frames at the default input size, 4 frames): "
            + ", ".join(f"batch {b}: {r:.2f} frames/s" for b, r in rates.items())
        )


if __name__ == "__main__":
    main()
