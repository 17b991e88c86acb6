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
MULTICAM = REPO / "pipelines" / "multicam_lab.toml"
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


# Debian's chromium, driven by Playwright (never a downloaded browser), headless in a container.
BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def chromium() -> str:
    """The browser the browser tests drive."""
    import shutil

    import pytest

    path = shutil.which("chromium")
    if path is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (make test does it)")
    return path


def cli_app():
    """The command line's typer app, every command registered (for typer's ``CliRunner``)."""
    from cyclist_dataset.cli import app

    return app


INTEL = "footage/intel/one-by-one-person-detection.mp4"


def write_segment(target: Path, frames: range, step: int = 1) -> Path:
    """A short piece of the intel clip as its own video (MPEG-4), at the clip's 10 fps / step."""
    import cv2

    from cyclist_dataset.io import assets, video

    source = assets.path(INTEL)
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter.fourcc(*"mp4v"), 10.0 / step, (768, 432))
    for frame in video.frames(source, 10.0, wanted=set(frames[::step])):
        writer.write(frame.image)
    writer.release()
    return target


class AppServer:
    """A local web app command (`annotate`, `roi edit`) in its own process, as a user starts it:
    ``url`` is the address it printed (up to ``path``)."""

    def __init__(self, *args: str, path: str) -> None:
        import re

        self.process = subprocess.Popen(
            [sys.executable, "-m", "cyclist_dataset", *args, "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            cwd=REPO,
        )
        assert self.process.stdout is not None
        self.output: list[str] = []  # what it printed up to the URL
        for line in self.process.stdout:
            self.output.append(line)
            found = re.search(rf"open (http://\S+?){re.escape(path)}", line)
            if found:
                self.url = found.group(1)
                return
        raise AssertionError("the server did not start:\n" + "".join(self.output))

    def kill(self) -> None:
        """No shutdown: as if the machine lost power."""
        import signal

        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
