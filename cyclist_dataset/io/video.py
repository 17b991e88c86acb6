"""Reading videos: probing their properties and streaming their frames (never all in memory)."""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from cyclist_dataset.errors import VideoError

T = TypeVar("T")


@dataclass(frozen=True)
class VideoInfo:
    fps: float
    frame_count: int
    width: int
    height: int

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps


@dataclass(frozen=True)
class Frame:
    index: int
    timestamp_s: float  # seconds since the first frame
    image: np.ndarray  # BGR, HxWx3 uint8


def require_file(path: Path) -> Path:
    """The path, if a file is there; else a VideoError naming it."""
    if not path.is_file():
        raise VideoError(f"video not found: {path}")
    return path


def _open(path: Path) -> cv2.VideoCapture:
    require_file(path)
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(
            f"{path}: OpenCV cannot open it as a video (corrupt, truncated or not a video file)"
        )
    return capture


def probe(path: Path) -> VideoInfo:
    """Properties of a video; raises VideoError if it cannot be decoded."""
    capture = _open(path)
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        ok, first = capture.read()
        if not ok or first is None:
            raise VideoError(f"{path}: no frame could be decoded (corrupt or empty video)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        if not fps or fps <= 0 or not np.isfinite(fps):
            raise VideoError(
                f"{path}: the container gives no frame rate; re-mux it with one (e.g. ffmpeg -r)"
            )
        height, width = first.shape[:2]
        return VideoInfo(
            fps=float(fps), frame_count=max(count, 1), width=int(width), height=int(height)
        )
    finally:
        capture.release()


def frame_count_slack(frame_count: int) -> int:
    """How many frames a complete file may decode short of its header's count: containers round
    their duration, so the last frame or two can be missing (1%, at least 2 frames)."""
    return max(2, math.ceil(0.01 * frame_count))


class FrameSampler:
    """The sampling rule, in one place: with a rate, take the first frame at or after each k / rate
    seconds (by timestamp, so e.g. 10 of 25 fps never drifts); without one, every frame."""

    def __init__(self, sample_fps: float | None) -> None:
        self.sample_fps = sample_fps
        self._next = 0.0

    def take(self, timestamp: float) -> bool:
        if self.sample_fps is None:
            return True
        if timestamp < self._next - 1e-9:
            return False
        self._next = (math.floor(timestamp * self.sample_fps + 1e-9) + 1) / self.sample_fps
        return True


def _missing_frames_error(path: Path, decoded: int, expected: int) -> VideoError:
    return VideoError(
        f"{path}: decoding stopped after {decoded} of its {expected} frames (the file is truncated "
        "or damaged); replace it with a complete copy, or re-encode it if the frame count in its "
        "header is wrong"
    )


def frames(
    path: Path,
    fps: float,
    wanted: set[int] | None = None,
    sample_fps: float | None = None,
    frame_count: int | None = None,
) -> Iterator[Frame]:
    """Stream frames in order, decoding only the pixels of frames that are yielded (others are
    grabbed).

    ``wanted`` picks frame indices; ``sample_fps`` picks, for each sample time k / sample_fps, the
    first frame at or after it: chosen by timestamp, so e.g. 10 of 25 fps never drifts. Timestamps
    are index / fps: the recording's nominal frame clock, the same on every rerun.

    A file that stops decoding early raises VideoError instead of ending quietly: before a wanted
    frame, or (given the probed ``frame_count``) more than ``FRAME_COUNT_SLACK`` short of it.
    """
    if wanted is not None and not wanted:
        return
    capture = _open(path)
    try:
        last = max(wanted) if wanted is not None else None
        sampler = FrameSampler(sample_fps)
        index = 0
        while last is None or index <= last:
            timestamp = index / fps
            if (wanted is None or index in wanted) and sampler.take(timestamp):
                ok, image = capture.read()
                if not ok:
                    break
                yield Frame(index=index, timestamp_s=timestamp, image=image)
            elif not capture.grab():
                break
            index += 1
    finally:
        capture.release()
    if last is not None and index <= last:
        raise _missing_frames_error(path, index, last + 1)
    if frame_count is not None and index < frame_count - frame_count_slack(frame_count):
        raise _missing_frames_error(path, index, frame_count)


_DONE = object()


def prefetched(items: Iterable[T], depth: int = 16) -> Iterator[T]:
    """Iterate ``items`` in a background thread, ``depth`` ahead: decoding overlaps the consumer's
    work.

    OpenCV decoding and onnxruntime/torch inference release the GIL, so the two really run in
    parallel. An exception in the producer is raised in the consumer; memory stays bounded.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: object) -> bool:
        while not stop.is_set():
            try:
                buffer.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False  # the consumer has gone

    def produce() -> None:
        try:
            for item in items:
                if not put(item):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(exc)

    thread = threading.Thread(target=produce, name="frame-decoder", daemon=True)
    thread.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join(timeout=5)
