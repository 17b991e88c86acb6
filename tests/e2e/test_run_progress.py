"""`run`'s progress as CI and log files get it: stderr not a terminal gives plain lines, never a
carriage return."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from support import CYCLIST_VIDEO, REPO
from terminal import screen

from cyclist_dataset.io import progress

# One short clip (60 frames, one cyclist) through every stage: a detect and a crops task.
PIPELINE = f"""
workspace = "ws"
roi_dir = "{REPO / "roi_definitions"}"
[location]
name = "radeberg"
timezone = "Europe/Berlin"
[[cameras]]
id = "cam1"
[[videos]]
camera = "cam1"
asset = "footage/radeberg/Testvideo_Cars-Cyclist_FR20_2020-01-01_00-00-00.mp4"
id = "{CYCLIST_VIDEO}"
start_time = 2020-02-20T12:11:17
[detect]
backend = "yolox_onnx"
[filter]
max_aspect_ratio = 0.75
min_width_px = 30
"""


def test_run_into_a_log_file_prints_plain_lines_and_no_carriage_return(tmp_path: Path):
    (tmp_path / "p.toml").write_text(PIPELINE)
    env = {k: v for k, v in os.environ.items() if k != progress.MODE_ENV}  # auto, as in CI
    env[progress.INTERVAL_ENV] = "0"  # a line at every step: every step is checked
    with open(tmp_path / "stderr.log", "wb") as stderr:
        result = subprocess.run(
            [sys.executable, "-m", "cyclist_dataset", "run", str(tmp_path / "p.toml")],
            cwd=REPO,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            timeout=300,
        )
    written = (tmp_path / "stderr.log").read_bytes()
    assert result.returncode == 0, written.decode()
    assert b"\r" not in written
    lines = written.decode().splitlines()
    counts = [
        int(m.group(1))
        for line in lines
        if (m := re.fullmatch(rf"detect {CYCLIST_VIDEO}: (\d+)/60 frames \(\d+%\), .*", line))
    ]
    assert counts == sorted(counts) and len(counts) > 10 and counts[-1] == 60
    assert any(
        re.fullmatch(r"crops .*: \d+/\d+ crops \(100%\), .*, took \d+:\d\d", s) for s in lines
    )
    assert any(re.fullmatch(rf" +detect  {CYCLIST_VIDEO}: \d+ rows", s) for s in lines)
    overall = r"videos: 1/1 videos \(100%\), .* frames/s, took \d+:\d\d"
    assert any(re.fullmatch(overall, line) for line in lines)


def run_on_a_terminal(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    """Run the command line with stderr on a pseudo-terminal (120 columns); its exit status and
    what it wrote there."""
    import fcntl
    import pty
    import struct
    import termios
    import threading

    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    chunks: list[bytes] = []

    def drain() -> None:  # read as it comes: a full terminal buffer would block the command
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # the command's end closed the terminal
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "cyclist_dataset", *args],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=side,
            timeout=300,
        )
    finally:
        os.close(side)
        reader.join(timeout=10)
        os.close(main)
    return result.returncode, b"".join(chunks).decode(errors="replace")


CARS_ONLY = """
[[videos]]
camera = "cam1"
asset = "footage/radeberg/Testvideo_FR20_2020-02-20_13-00-00.mp4"
"""


@pytest.mark.parametrize("workers", [1, 2])
def test_run_on_a_terminal_shows_one_overall_bar_and_log_lines_above_it(tmp_path, workers):
    # the cars-only clip's file name carries its start time
    (tmp_path / "p.toml").write_text(PIPELINE.replace("[detect]", CARS_ONLY + "[detect]"))
    env = {k: v for k, v in os.environ.items() if k != progress.MODE_ENV}
    status, written = run_on_a_terminal(
        ["run", str(tmp_path / "p.toml"), "--workers", str(workers)], REPO, env
    )
    shown = screen(written)
    assert status == 0, "\n".join(shown)
    # a per-video bar in this process only: worker processes draw none (they could not know
    # where on the screen the others are)
    assert (f"detect {CYCLIST_VIDEO}:" in written) == (workers == 1)
    for video in (CYCLIST_VIDEO, "Testvideo_FR20_2020-02-20_13-00-00"):
        assert any(re.fullmatch(rf" +detect  {video}: \d+ rows", row) for row in shown), shown
    # when done: the log lines, then the overall bar, then the split's warning; no video's bar
    bars = [row for row in shown if re.search(r": +\d+%\|", row)]
    assert len(bars) == 1 and bars[0].startswith("videos: 100%|") and "2/2" in bars[0]
