"""The one progress display: stages, tools and the driver report progress here, never to tqdm
directly, so a run shows one overall bar with nested per-video bars on a terminal and plain lines
in a log file.

Modes (``configure``, else ``$CYCLIST_DATASET_PROGRESS``, else ``auto``: ``bars`` when the stream,
stderr, is a terminal, ``plain`` when it is not):

- ``bars``: tqdm bars. The first bar opened stays on screen when done; bars opened while it is open
  sit below it and vanish when done. ``write`` prints a line above the bars (``tqdm.write``), and
  while a bar is open console logging and Python warnings take the same route, so no line breaks a
  bar.
- ``plain``: no carriage return ever (tqdm always redraws in place with ``\\r``, even into a file,
  so this mode is our own few lines): a task prints a line at most every ``interval_s`` seconds
  (``$CYCLIST_DATASET_PROGRESS_INTERVAL``, default 30) and a last line when it ends.
- ``off``: no progress; ``write`` still prints.

Processes: only the process that owns the terminal draws bars. tqdm places bars by counting the
bars of its own process, so bars from worker processes would overwrite each other and the driver's.
The executors therefore start worker processes with ``off`` under ``bars`` (the overall bar moves
as each video finishes and the video's log lines print above it) and with the driver's mode
otherwise (plain lines are written whole, so lines of several processes interleave harmlessly).
Ray workers write to Ray's log files, not a terminal: ``auto`` gives plain lines there.

tqdm is imported only when bars are drawn: it comes with the ``pipeline`` extra, and the reader
alone (``pip install cyclist-dataset``) may import this module.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from typing import IO, Any, Literal, TypeVar, cast, get_args

from cyclist_dataset.errors import UserError

Mode = Literal["bars", "plain", "off"]
MODES = ("auto", *get_args(Mode))
MODE_ENV = "CYCLIST_DATASET_PROGRESS"
INTERVAL_ENV = "CYCLIST_DATASET_PROGRESS_INTERVAL"
DEFAULT_INTERVAL_S = 30.0

T = TypeVar("T")


@dataclass
class _Settings:
    mode: str | None = None  # None: $CYCLIST_DATASET_PROGRESS, else auto
    stream: IO[str] | None = None  # None: sys.stderr when used (pytest and typer swap it)
    interval_s: float | None = None  # None: $CYCLIST_DATASET_PROGRESS_INTERVAL, else the default
    clock: Callable[[], float] = time.monotonic


_settings = _Settings()


def configure(
    mode: str | None = None,
    *,
    stream: IO[str] | None = None,
    interval_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Set this process's display (a command's ``--progress``, a worker process, a test); an
    argument left out returns to its default."""
    if mode is not None and mode not in MODES:
        raise UserError(f"progress display {mode!r}: use one of {', '.join(MODES)}")
    global _settings
    _settings = _Settings(mode, stream, interval_s, clock)


def current_mode() -> Mode:
    """The mode a task opened now would use."""
    chosen = _settings.mode or os.environ.get(MODE_ENV) or "auto"
    if chosen == "auto":
        return "bars" if _is_terminal(_stream()) else "plain"
    if chosen not in MODES:
        raise UserError(f"{MODE_ENV}={chosen!r}: use one of {', '.join(MODES)}")
    return cast(Mode, chosen)


def _stream() -> IO[str]:
    return _settings.stream or sys.stderr


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _interval_s() -> float:
    if _settings.interval_s is not None:
        return _settings.interval_s
    raw = os.environ.get(INTERVAL_ENV, str(DEFAULT_INTERVAL_S))
    try:
        return float(raw)
    except ValueError:
        raise UserError(f"{INTERVAL_ENV}={raw!r}: give seconds, e.g. 30") from None


class Task:
    """One counted piece of work. This base class shows nothing (``off``, or ``enabled=False``)."""

    def update(self, n: int = 1) -> None:
        """``n`` more units done."""

    def note(self, text: str) -> None:
        """A short status shown after the counts (e.g. a rate), replacing the previous one."""

    def close(self) -> None:
        pass


class _PlainTask(Task):
    def __init__(self, desc: str, total: int | None, unit: str) -> None:
        self.desc, self.total, self.unit = desc, total, unit
        self.stream, self.interval_s, self.clock = _stream(), _interval_s(), _settings.clock
        self.n, self.text = 0, ""
        self.started = self.printed = self.clock()

    def update(self, n: int = 1) -> None:
        self.n += n
        now = self.clock()
        # at the total, the last line (close) says it: no line twice
        if now - self.printed >= self.interval_s and self.n != self.total:
            self.printed = now
            self._print(now)

    def note(self, text: str) -> None:
        self.text = text

    def close(self) -> None:
        self._print(self.clock(), last=True)

    def _print(self, now: float, last: bool = False) -> None:
        elapsed = now - self.started
        units = self.unit if self.unit.endswith("s") else f"{self.unit}s"
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        line = f"{self.desc}: {count} {units}"
        if self.total:
            line += f" ({100 * self.n / self.total:.0f}%)"
        if self.n and elapsed > 0:
            rate = self.n / elapsed
            # a slow task reads better as time per unit (as tqdm shows it)
            line += f", {rate:.1f} {units}/s" if rate >= 1 else f", {1 / rate:.1f} s/{self.unit}"
        if self.text:
            line += f", {self.text}"
        if last:
            line += f", took {_duration(elapsed)}"
        _write_line(self.stream, line)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _write_line(stream: IO[str], line: str) -> None:
    # One write per line: lines of several worker processes sharing the stream stay whole.
    stream.write(line + "\n")
    stream.flush()


class _BarTask(Task):
    def __init__(self, desc: str, total: int | None, unit: str, leave: bool) -> None:
        from tqdm import tqdm

        # position left to tqdm: it places each new bar below the open ones (nesting)
        self.bar = tqdm(
            total=total, desc=desc, unit=unit, file=_stream(), leave=leave, dynamic_ncols=True
        )

    def update(self, n: int = 1) -> None:
        self.bar.update(n)

    def note(self, text: str) -> None:
        self.bar.set_postfix_str(text, refresh=False)

    def close(self) -> None:
        self.bar.close()


_open: list[Task] = []  # this process's open tasks, outermost first


def _bars_open() -> bool:
    return any(isinstance(t, _BarTask) for t in _open)


@contextlib.contextmanager
def task(
    desc: str, total: int | None = None, unit: str = "item", enabled: bool = True
) -> Iterator[Task]:
    """Report a piece of work's progress: ``with task("detect v1", 400, "frame") as t: ...
    t.update()``. A task opened inside another is nested under it. ``enabled=False`` shows
    nothing (a caller's own switch, e.g. a tool's ``progress=False``)."""
    chosen = current_mode() if enabled else "off"
    with contextlib.ExitStack() as stack:
        handle: Task
        if chosen == "bars":
            outermost = not _bars_open()
            if outermost:
                stack.enter_context(_other_output_above_bars())
            handle = _BarTask(desc, total, unit, leave=outermost)
        elif chosen == "plain":
            handle = _PlainTask(desc, total, unit)
        else:
            handle = Task()
        _open.append(handle)
        try:
            yield handle
        finally:
            _open.remove(handle)
            handle.close()


def iterate(
    items: Iterable[T],
    desc: str,
    total: int | None = None,
    unit: str = "item",
    enabled: bool = True,
) -> Iterator[T]:
    """The items of ``items``, counted as a task (``total``: their number when they have a
    length)."""
    if total is None and isinstance(items, Sized):
        total = len(items)
    with task(desc, total, unit, enabled) as handle:
        for item in items:
            yield item
            handle.update()


def write(line: str) -> None:
    """Print a log line (to the progress stream, stderr): above the bars while bars are drawn,
    whole in every mode."""
    if _bars_open():
        from tqdm import tqdm

        tqdm.write(line, file=_stream())
    else:
        _write_line(_stream(), line)


@contextlib.contextmanager
def _other_output_above_bars() -> Iterator[None]:
    """While bars are drawn, console logging and Python warnings print above them, as ``write``
    does (tqdm has the logging half; warnings are one hook)."""
    from tqdm.contrib.logging import logging_redirect_tqdm

    def show(message: Any, category: Any, filename: str, lineno: int, *_: Any, **__: Any) -> None:
        write(warnings.formatwarning(message, category, filename, lineno).rstrip("\n"))

    previous = warnings.showwarning
    warnings.showwarning = show
    try:
        with logging_redirect_tqdm():
            yield
    finally:
        warnings.showwarning = previous
