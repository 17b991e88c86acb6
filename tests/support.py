"""What tests of every tier share: the repository's paths, the demo's video ids, the command
line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED_ASSETS = Path(
    os.environ.get("CYCLIST_DATASET_SHARED_ASSETS", REPO.parent / "shared" / "assets")
)
DEMO = REPO / "pipelines" / "demo.toml"
CYCLIST_VIDEO = "radeberg_2020-02-20_12-11-17_cyclist"
CARS_ONLY_VIDEOS = [f"Testvideo_FR20_2020-02-20_13-00-0{s}" for s in (0, 3, 6)]


def cli(*args: str, cwd: Path = REPO, timeout: float = 300) -> subprocess.CompletedProcess:
    """Run the real command line, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "cyclist_dataset", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
