"""Anonymization: speed of each method, face blur against deface, and the privacy audit's figures.

    .venv/bin/python benchmarks/anonymize.py [--seconds 30] [--repeat 3] [--skip-deface]
                                             [--skip-audit]

1. Crop stage throughput (crops/s, CPU, the stage's own thread pool: decode, blur, encode, write)
   for each method, without and with the in-memory privacy audit (its escalations included), on
   the person boxes YOLOX-nano finds in the first ``--seconds`` of the intel clip (768x432, 10 fps);
   the face method's cost over median blur. Target with median blur and the audit: >= 40.
2. Face blur on whole frames, over the same frames: deface's CLI (CenterFace on every full frame,
   `--ep CPUExecutionProvider`) against our `anonymize-video --method face` (YOLOX-nano persons,
   CenterFace in each person box, head fallback) and `--method median`; frames/s, end to end.
3. Audit figures: the share of person crops in which the audit's face detectors (CenterFace,
   YuNet at their audit thresholds, every view) still find a face, unblurred and after each
   method (no escalation), on the intel clip (persons detected at 2 fps over the whole 139 s) and
   on the seven Radeberg clips (persons at 5 fps).

The whole pipeline against its detect stage on a long video: ``benchmarks/long_video.py``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pyarrow as pa

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import AnonymizeConfig, AuditConfig, YoloxConfig
from cyclist_dataset.io import assets, video
from cyclist_dataset.io.workspace import Workspace
from cyclist_dataset.stages import detect
from cyclist_dataset.stages.anonymize import Anonymizer, write_crops
from cyclist_dataset.stages.anonymize.audit import Auditor
from cyclist_dataset.tools.anonymize_video import anonymize_video_file

INTEL = "footage/intel/one-by-one-person-detection.mp4"
RADEBERG = [name for name in assets.REGISTRY if name.startswith("footage/radeberg/")]
METHODS = ("median", "gaussian", "average", "face")
NO_ESCALATION = AuditConfig(escalate=False)


def persons(
    path: Path, sample_fps: float | None = None, first_s: float | None = None, min_height: int = 40
) -> list[dict]:
    """Person boxes (YOLOX-nano, score >= 0.4, at least ``min_height`` px) with their frame and
    crop."""
    detector = detect.make_detector(YoloxConfig(classes=("person",)))
    info = video.probe(path)
    out = []
    for frame in video.frames(path, info.fps, sample_fps=sample_fps):
        if first_s is not None and frame.timestamp_s >= first_s:
            break
        found = detector.detect_prepared([detector.prepare(frame.image)])[0]
        for box, score in zip(found.xyxy, found.score, strict=True):
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            x1, y1 = max(0, x1), max(0, y1)
            if score < 0.4 or y2 - y1 < min_height:
                continue
            out.append(
                {
                    "frame_index": frame.index,
                    "timestamp_s": frame.timestamp_s,
                    "box": (x1, y1, x2, y2),
                    "score": float(score),
                    "crop": frame.image[y1:y2, x1:x2].copy(),
                }
            )
    return out


def tracklet_table(people: list[dict]) -> pa.Table:
    """One pseudo-tracklet per person box (ids by order), in the tracklets schema."""
    n = len(people)
    given = {
        "tracklet_id": [f"bench_t{i:04d}" for i in range(n)],
        "location": ["bench"] * n,
        "camera": ["c1"] * n,
        "video_id": ["bench"] * n,
        "frame_index": [p["frame_index"] for p in people],
        "timestamp_s": [p["timestamp_s"] for p in people],
        "detection_id": list(range(n)),
        "score": [p["score"] for p in people],
        "model": ["yolox"] * n,
        **{k: [float(p["box"][i]) for p in people] for i, k in enumerate(("x1", "y1", "x2", "y2"))},
    }
    return schemas.table(
        schemas.TRACKLETS,
        {
            f.name: given.get(f.name, [False if f.type == pa.bool_() else None] * n)
            for f in schemas.TRACKLETS
        },
    )


def crop_throughput(
    path: Path, people: list[dict], repeat: int
) -> list[tuple[str, float, float, str]]:
    """Per method: crops/s without and with the audit (median of ``repeat`` runs), and how many
    crops the audit escalated (1, 2, 3 rounds) or refused."""
    table = tracklet_table(people)
    rows = []
    for method in METHODS:
        speeds: list = []
        for audit in (False, True):
            config = AnonymizeConfig(method=method, audit=AuditConfig(enabled=audit))
            Anonymizer(config)  # load the models outside the timing
            runs = []
            for _ in range(repeat):
                root = Path(tempfile.mkdtemp(prefix="bench-crops-"))
                start = time.perf_counter()
                written = write_crops(
                    path,
                    10.0,
                    datetime(2020, 1, 1, tzinfo=UTC),
                    table,
                    Workspace(root),
                    config,
                    progress=False,
                )
                runs.append(written.num_rows / (time.perf_counter() - start))
                shutil.rmtree(root)
            speeds.append(statistics.median(runs))
        rounds = written.column("audit_escalations").to_pylist()
        refused = sum(p is None for p in written.column("crop_path").to_pylist())
        escalated = " / ".join(str(sum(r == k for r in rounds)) for k in (1, 2, 3))
        rows.append((method, *speeds, f"{escalated}; {refused} refused"))
    return rows


def clip(source: Path, target: Path, seconds: float) -> int:
    info = video.probe(source)
    writer = cv2.VideoWriter(
        str(target), cv2.VideoWriter_fourcc(*"mp4v"), info.fps, (info.width, info.height)
    )
    count = 0
    for frame in video.frames(source, info.fps):
        if frame.timestamp_s >= seconds:
            break
        writer.write(frame.image)
        count += 1
    writer.release()
    return count


def deface_comparison(path: Path, seconds: float) -> list[tuple[str, float]]:
    work = Path(tempfile.mkdtemp(prefix="bench-deface-"))
    segment = work / "segment.mp4"
    frames = clip(path, segment, seconds)
    deface = Path(sys.executable).parent / "deface"
    results = []
    start = time.perf_counter()
    subprocess.run(
        [str(deface), str(segment), "-o", str(work / "deface.mp4"), "--ep", "CPUExecutionProvider"],
        check=True,
        capture_output=True,
    )
    results.append(
        (
            "deface 1.5 CLI (CenterFace on every full frame, CPU EP)",
            frames / (time.perf_counter() - start),
        )
    )
    for method in ("face", "median"):
        anonymize_video_file(
            segment,
            work / "warmup.mp4",
            AnonymizeConfig(method=method),
            YoloxConfig(),
            progress=False,
        ) if method == "face" else None
        start = time.perf_counter()
        anonymize_video_file(
            segment,
            work / f"{method}.mp4",
            AnonymizeConfig(method=method),
            YoloxConfig(),
            progress=False,
        )
        results.append(
            (
                f"anonymize-video --method {method} (YOLOX-nano persons every frame)",
                frames / (time.perf_counter() - start),
            )
        )
    shutil.rmtree(work)
    return results


def audit_figures(people: list[dict]) -> dict[str, tuple[int, float, float, float]]:
    """Per state: (crops, share failing the audit, share CenterFace alone finds, share YuNet alone
    finds)."""
    auditor = Auditor(NO_ESCALATION)
    states = {
        "unblurred": None,
        **{m: Anonymizer(AnonymizeConfig(method=m, audit=NO_ESCALATION)) for m in METHODS},
    }
    out = {}
    for state, anonymizer in states.items():
        fails = cf = yn = 0
        for person in people:
            image = person["crop"]
            if anonymizer is not None:
                blurred, _ = anonymizer.anonymize(image)
                image = cv2.imdecode(
                    np.frombuffer(anonymizer.encode(blurred), np.uint8), cv2.IMREAD_COLOR
                )
            result = auditor.check(image)
            fails += not result.passed
            cf += result.scores["centerface"] >= NO_ESCALATION.centerface_threshold
            yn += result.scores["yunet"] >= NO_ESCALATION.yunet_threshold
        n = max(1, len(people))
        out[state] = (len(people), fails / n, cf / n, yn / n)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=30, help="length of the intel segment for 1. and 2."
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per crop-stage figure (median)")
    parser.add_argument("--skip-deface", action="store_true")
    parser.add_argument("--skip-audit", action="store_true")
    args = parser.parse_args()
    intel = assets.path(INTEL)
    print(f"CPU: {os.cpu_count()} cores; onnxruntime CPU provider; OpenCV {cv2.__version__}\n")

    people = persons(intel, first_s=args.seconds)
    print(
        f"1. Crop stage, {len(people)} person crops from the first {args.seconds:g} s of the "
        f"intel clip (heights {min(p['crop'].shape[0] for p in people)}-"
        f"{max(p['crop'].shape[0] for p in people)} px), median of {args.repeat} runs\n"
    )
    rows = crop_throughput(intel, people, args.repeat)
    median = rows[0][1], rows[0][2]
    print(
        "| method | crops/s, no audit | crops/s, with audit | "
        "time per crop vs median (no audit / audit) | escalated 1 / 2 / 3 rounds |"
    )
    print("|---|---|---|---|---|")
    for method, plain, audited, escalated in rows:
        print(
            f"| {method} | {plain:.0f} | {audited:.1f} | "
            f"{median[0] / plain:.1f}x / {median[1] / audited:.1f}x | {escalated} |"
        )

    if not args.skip_deface:
        print(
            f"\n2. Face blur on whole frames, first {args.seconds:g} s of the intel clip "
            f"({round(args.seconds * 10)} "
            "frames, 768x432), end to end (decode, detect, blur, encode)\n"
        )
        print("| tool | frames/s |")
        print("|---|---|")
        for name, fps in deface_comparison(intel, args.seconds):
            print(f"| {name} | {fps:.1f} |")

    if not args.skip_audit:
        sets = {
            "intel clip (persons at 2 fps, 139 s)": persons(intel, sample_fps=2),
            "Radeberg clips (7, persons at 5 fps)": [
                p for name in RADEBERG for p in persons(assets.path(name), sample_fps=5)
            ],
        }
        a = AuditConfig()
        print(
            f"\n3. Crops with a detectable face (CenterFace >= {a.centerface_threshold} or "
            f"YuNet >= {a.yunet_threshold}, every view of the audit), no escalation\n"
        )
        for name, crops in sets.items():
            figures = audit_figures(crops)
            print(
                f"{name}: {len(crops)} crops, heights "
                f"{min(p['crop'].shape[0] for p in crops)}-"
                f"{max(p['crop'].shape[0] for p in crops)} px\n"
            )
            print("| crops | with a face (audit fails) | CenterFace finds | YuNet finds |")
            print("|---|---|---|---|")
            for state, (_, fail, cf, yn) in figures.items():
                print(f"| {state} | {fail:.1%} | {cf:.1%} | {yn:.1%} |")
            print()


if __name__ == "__main__":
    main()
