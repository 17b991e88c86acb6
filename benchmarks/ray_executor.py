"""The Ray executor on this machine, measured side by side in one run.

    .venv/bin/python benchmarks/ray_executor.py [--repeat 2]

The detect stage (with ingest) over 8 videos (the two 200-frame Radeberg clips, four times each
under different ids): (1) Ray with 1 worker vs 2 workers (1 CPU each): the speed-up; (2) the local
executor vs Ray with 2 workers for the same work: Ray's overhead. The Ray instance is started before
timing (a cluster is already running in real use); actor start-up and model loading are timed.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import ray

from cyclist_dataset.core.config import VideoConfig, load_pipeline
from cyclist_dataset.pipeline.executors import LocalExecutor, RayExecutor
from cyclist_dataset.pipeline.run import run_pipeline

REPO = Path(__file__).resolve().parents[1]
CLIPS = [
    "footage/radeberg/Testvideo_FR20_2020-02-20_13-11-00.mp4",
    "footage/radeberg/Testvideo_FR20_2020-02-20_13-11-10.mp4",
]


def eight_videos(workspace: Path):
    config = load_pipeline(REPO / "pipelines" / "demo.toml", workspace)
    videos = tuple(
        VideoConfig(camera="cam1", asset=clip, id=f"copy{i}_{Path(clip).stem}")
        for i in range(4)
        for clip in CLIPS
    )
    return config.model_copy(update={"videos": videos})


def timed(executor) -> float:
    with tempfile.TemporaryDirectory() as folder:
        config = eight_videos(Path(folder) / "ws")
        start = time.perf_counter()
        report = run_pipeline(
            config, ("ingest", "detect"), executor=executor, log=lambda line: None
        )
        elapsed = time.perf_counter() - start
    assert not report.failed, report.failed
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--repeat", type=int, default=2, help="runs per measurement; the median is reported"
    )
    args = parser.parse_args()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    times: dict[str, list[float]] = {"ray_1_worker": [], "ray_2_workers": [], "local": []}
    for _ in range(args.repeat):  # interleaved, so drift in machine load hits all alike
        times["ray_1_worker"].append(timed(RayExecutor(workers=1)))
        times["ray_2_workers"].append(timed(RayExecutor(workers=2)))
        times["local"].append(timed(LocalExecutor()))
    ray.shutdown()
    median = {k: statistics.median(v) for k, v in times.items()}
    frames = 8 * 200
    print(
        f"detect stage, 8 videos ({frames} frames, 800x600, YOLOX-nano on CPU), "
        f"median of {args.repeat} runs"
    )
    for name, seconds in median.items():
        print(f"  {name:<14} {seconds:6.1f} s   {frames / seconds:6.1f} frames/s")
    print(
        "  speed-up 2 vs 1 Ray workers: "
        f"{median['ray_1_worker'] / median['ray_2_workers']:.2f}x  (target >= 1.6x)"
    )
    print(
        "  Ray (2 workers) over local:  "
        f"{median['ray_2_workers'] / median['local'] - 1:+.0%}  (target <= +15%)"
    )


if __name__ == "__main__":
    main()
