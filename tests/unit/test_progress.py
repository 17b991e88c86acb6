"""The progress display: bars nested on a terminal with log lines above them, plain lines (no
carriage return) elsewhere, nothing when off."""

from __future__ import annotations

import io
import warnings

import pytest
from terminal import screen

from cyclist_dataset.errors import UserError
from cyclist_dataset.io import progress
from cyclist_dataset.pipeline import executors


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _default_display(monkeypatch):
    monkeypatch.delenv(progress.MODE_ENV, raising=False)
    monkeypatch.delenv(progress.INTERVAL_ENV, raising=False)
    yield
    progress.configure()


def test_plain_lines_are_periodic_with_counts_and_end_with_a_last_line():
    out, clock = io.StringIO(), Clock()
    progress.configure("plain", stream=out, interval_s=10, clock=clock)
    with progress.task("detect v1", 400, "frame") as task:
        for _ in range(400):
            clock.now += 0.125  # 8 frames a second: a line every 80 frames
            task.update()
    assert "\r" not in out.getvalue()
    assert out.getvalue().splitlines() == [
        "detect v1: 80/400 frames (20%), 8.0 frames/s",
        "detect v1: 160/400 frames (40%), 8.0 frames/s",
        "detect v1: 240/400 frames (60%), 8.0 frames/s",
        "detect v1: 320/400 frames (80%), 8.0 frames/s",
        "detect v1: 400/400 frames (100%), 8.0 frames/s, took 0:50",
    ]


def test_plain_lines_nest_without_carriage_returns_and_log_lines_stay_whole():
    out, clock = io.StringIO(), Clock()
    progress.configure("plain", stream=out, interval_s=30, clock=clock)
    with progress.task("videos", 2, "video") as overall:
        for video in ("v1", "v2"):
            for _ in progress.iterate(range(50), f"detect {video}", unit="frame"):
                clock.now += 1
            progress.write(f"   detect  {video}: 12 rows")
            overall.note("50.0 frames/s")
            overall.update()
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert lines == [
        "detect v1: 30/50 frames (60%), 1.0 frames/s",
        "detect v1: 50/50 frames (100%), 1.0 frames/s, took 0:50",
        "   detect  v1: 12 rows",
        "videos: 1/2 videos (50%), 50.0 s/video, 50.0 frames/s",  # 30 s since it began
        "detect v2: 30/50 frames (60%), 1.0 frames/s",
        "detect v2: 50/50 frames (100%), 1.0 frames/s, took 0:50",
        "   detect  v2: 12 rows",
        "videos: 2/2 videos (100%), 50.0 s/video, 50.0 frames/s, took 1:40",
    ]


def test_bars_nest_under_the_overall_bar_and_other_output_prints_whole_above_them():
    terminal = Terminal()
    progress.configure(stream=terminal)  # auto: a terminal gets bars
    assert progress.current_mode() == "bars"
    with progress.task("videos", 2, "video") as overall:
        for video in ("v1", "v2"):
            for i in progress.iterate(range(3), f"detect {video}", unit="frame"):
                if i == 1 and video == "v1":
                    during = screen(terminal.getvalue())
            progress.write(f"   detect  {video}: 12 rows")
            overall.update()
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.warn("a warning from a library", stacklevel=1)
        progress.write("a log line\nof two lines")
        after_output = screen(terminal.getvalue())
    shown = screen(terminal.getvalue())

    assert during[0].startswith("videos:   0%") and during[1].startswith("detect v1:   0%")
    # each log line on a row of its own, above the bars; the per-video bars gone when done
    assert shown[:2] == ["   detect  v1: 12 rows", "   detect  v2: 12 rows"]
    assert "UserWarning: a warning from a library" in shown[2]
    assert shown[-3:-1] == ["a log line", "of two lines"]
    assert after_output[-1].startswith("videos: 100%") and "2/2" in after_output[-1]
    assert shown[-1].startswith("videos: 100%") and not any("detect v" in r for r in shown)


def test_off_and_disabled_tasks_show_nothing_but_log_lines():
    out = io.StringIO()
    progress.configure("off", stream=out)
    for _ in progress.iterate(range(5), "detect v1", unit="frame"):
        pass
    progress.write("a log line")
    progress.configure("plain", stream=out)
    with progress.task("crops", 5, "crop", enabled=False) as task:
        task.update(5)
    assert out.getvalue() == "a log line\n"


def test_the_mode_comes_from_configure_then_the_environment_then_the_stream(monkeypatch):
    progress.configure(stream=io.StringIO())
    assert progress.current_mode() == "plain"  # not a terminal
    monkeypatch.setenv(progress.MODE_ENV, "off")
    assert progress.current_mode() == "off"
    progress.configure("bars", stream=io.StringIO())
    assert progress.current_mode() == "bars"
    monkeypatch.setenv(progress.MODE_ENV, "fancy")
    progress.configure()
    with pytest.raises(UserError, match="CYCLIST_DATASET_PROGRESS='fancy'"):
        progress.current_mode()
    with pytest.raises(UserError, match="use one of auto, bars, plain, off"):
        progress.configure("fancy")


def test_the_plain_interval_comes_from_the_environment(monkeypatch):
    out, clock = io.StringIO(), Clock()
    monkeypatch.setenv(progress.INTERVAL_ENV, "2")
    progress.configure("plain", stream=out, clock=clock)
    with progress.task("audit", unit="image") as task:  # no total: counts only
        for _ in range(4):
            clock.now += 1
            task.update()
    assert out.getvalue().splitlines() == [
        "audit: 2 images, 1.0 images/s",
        "audit: 4 images, 1.0 images/s",
        "audit: 4 images, 1.0 images/s, took 0:04",
    ]


@pytest.mark.parametrize(
    ("driver", "worker"), [("bars", "off"), ("plain", "plain"), ("off", "off")]
)
def test_worker_processes_draw_no_bars_of_their_own(monkeypatch, driver, worker):
    monkeypatch.setattr(executors, "die_with_parent", lambda: None)
    executors._start_worker(driver)
    assert progress.current_mode() == worker
