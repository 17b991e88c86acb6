"""The whole pipeline on a long video against its detect stage, with and without the privacy audit.

    .venv/bin/python benchmarks/long_video.py [--repeat 3]

The seven Radeberg clips (699 frames, 800x600, 20 fps: cyclists, cars, a truck) written one after
another ``--repeat`` times into one video (2,097 frames by default), run through the demo
pipeline's settings as one camera, stage by stage in a fresh workspace: once as configured (the
privacy audit on) and once with ``[anonymize] audit = { enabled = false }``. Reports each stage's
seconds, the detect stage's frame rate, the whole pipeline's frame rate (frames / all stages'
seconds), their ratio (target >= 0.8), and the audit's share of the whole run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import cv2
import pandas as pd

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.io import assets, video
from cyclist_dataset.pipeline.run import run_pipeline
from cyclist_dataset.pipeline.unit import STAGE_NAMES

REPO = Path(__file__).resolve().parent.parent
CLIPS = sorted(name for name in assets.REGISTRY if name.startswith("footage/radeberg/"))


def long_video(target: Path, repeat: int) -> int:
    """The clips one after another, ``repeat`` times; returns the number of frames written."""
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), 20.0, (800, 600))
    count = 0
    for _ in range(repeat):
        for name in CLIPS:
            path = assets.path(name)
            for frame in video.frames(path, video.probe(path).fps):
                writer.write(frame.image)
                count += 1
    writer.release()
    return count


def pipeline_file(folder: Path, movie: Path, audit: bool) -> Path:
    """The demo pipeline's settings, one video (the long one)."""
    text = (REPO / "pipelines" / "demo.toml").read_text(encoding="utf-8")
    head, _, rest = text.partition("[[videos]]")
    settings = rest[rest.index("[detect]") :]
    head = head.replace('roi_dir = "../roi_definitions"', f'roi_dir = "{REPO / "roi_definitions"}"')
    head = re.sub(r'workspace = "[^"]*"', 'workspace = "workspace"', head)
    videos = (
        f'[[videos]]\ncamera = "cam1"\npath = "{movie}"\nid = "radeberg_long"\n'
        "start_time = 2020-02-20T13:15:00\n\n"
    )
    if not audit:
        settings = settings.replace("[anonymize]\n", "[anonymize]\naudit = { enabled = false }\n")
    target = folder / f"pipeline_{'audit' if audit else 'no_audit'}.toml"
    target.write_text(head + videos + settings, encoding="utf-8")
    return target


def run_stages(pipeline: Path, workspace: Path) -> dict[str, float]:
    """Seconds per stage, each stage run on its own (models loaded inside, as in a real run)."""
    shutil.rmtree(workspace, ignore_errors=True)
    config = load_pipeline(pipeline, workspace)
    seconds = {}
    for stage in STAGE_NAMES:
        start = time.perf_counter()
        report = run_pipeline(config, stages=(stage,), log=lambda line: None)
        seconds[stage] = time.perf_counter() - start
        assert not report.failed, report.failed
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="times the seven clips are repeated")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-long-"))
    try:
        movie = folder / "radeberg_long.mp4"
        frames = long_video(movie, args.repeat)
        print(
            f"CPU: {os.cpu_count()} cores. {frames} frames (the 7 Radeberg clips x {args.repeat}), "
            "800x600, demo pipeline settings\n"
        )
        runs = {}
        for audit in (True, False):
            workspace = folder / "workspace"
            runs[audit] = run_stages(pipeline_file(folder, movie, audit), workspace)
            if audit:
                crops = pd.read_parquet(workspace / "stages" / "anonymize")
        print("| stage | seconds, audit on | seconds, audit off |")
        print("|---|---|---|")
        for stage in STAGE_NAMES:
            print(f"| {stage} | {runs[True][stage]:.1f} | {runs[False][stage]:.1f} |")
        print()
        detect_fps = frames / runs[True]["detect"]
        print("| measurement | audit on | audit off |")
        print("|---|---|---|")
        totals = {audit: sum(seconds.values()) for audit, seconds in runs.items()}
        print(
            f"| detect stage, frames/s | {detect_fps:.1f} | {frames / runs[False]['detect']:.1f} |"
        )
        print(
            f"| whole pipeline, frames/s | {frames / totals[True]:.1f} | "
            f"{frames / totals[False]:.1f} |"
        )
        print(
            f"| whole / detect | **{(frames / totals[True]) / detect_fps:.2f}** | "
            f"{(frames / totals[False]) / (frames / runs[False]['detect']):.2f} |"
        )
        audit_seconds = runs[True]["anonymize"] - runs[False]["anonymize"]
        escalated = int((crops["audit_escalations"] > 0).sum())
        print(
            f"\nThe audit: {audit_seconds:.1f} s of {totals[True]:.1f} s "
            f"({audit_seconds / totals[True]:.0%} of the run) for {len(crops)} crops "
            f"({len(crops) / max(runs[True]['anonymize'], 1e-9):.1f} crops/s in the anonymize "
            f"stage), {escalated} escalated, {int(crops['crop_path'].isna().sum())} refused."
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
