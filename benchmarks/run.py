"""Detect-stage throughput on the Radeberg clips, measured side by side in one run.

    make bench        (or: .venv/bin/python benchmarks/run.py [--repeat 3])

Prints frames/s for (a) decoding only, (b) onnxruntime inference only on the same preprocessed
frames, (c) the detect stage end to end, and the ratio c / min(a, b): how much our decode,
pre- and post-processing add over the two costs no implementation can avoid.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from cyclist_dataset import assets, video
from cyclist_dataset.config import DetectConfig
from cyclist_dataset.detect import detect_frames, make_detector

CLIPS = [name for name in assets.REGISTRY if name.startswith("footage/radeberg/")]


def _frames():
    for name in CLIPS:
        path = assets.path(name)
        yield from video.frames(path, video.probe(path).fps)


def decode_only() -> float:
    start, count = time.perf_counter(), sum(1 for _ in _frames())
    return count / (time.perf_counter() - start)


def inference_only(detector, blobs: list[np.ndarray]) -> float:
    start = time.perf_counter()
    for blob in blobs:
        detector.infer(blob[None])
    return len(blobs) / (time.perf_counter() - start)


def end_to_end(detector, frame_count: int) -> float:
    start = time.perf_counter()
    detect_frames(_frames(), detector, "bench")
    return frame_count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement; the median is reported")
    args = parser.parse_args()
    detector = make_detector(DetectConfig())
    blobs = [detector.preprocess(frame.image)[0] for frame in _frames()]
    results = {"a_decode": [], "b_inference": [], "c_detect_stage": []}
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits all three alike
        results["a_decode"].append(decode_only())
        results["b_inference"].append(inference_only(detector, blobs))
        results["c_detect_stage"].append(end_to_end(detector, len(blobs)))
    medians = {k: statistics.median(v) for k, v in results.items()}
    print(f"YOLOX-nano (onnxruntime CPU), {len(blobs)} frames of {len(CLIPS)} Radeberg clips, "
          f"median of {args.repeat} runs")
    for name, value in medians.items():
        print(f"  {name:<16} {value:8.1f} frames/s")
    ratio = medians["c_detect_stage"] / min(medians["a_decode"], medians["b_inference"])
    print(f"  ratio c / min(a, b): {ratio:.2f}")


if __name__ == "__main__":
    main()
