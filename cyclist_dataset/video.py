"""Reading videos: probing their properties and streaming their frames (never all in memory)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from cyclist_dataset.errors import VideoError


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


def _open(path: Path) -> cv2.VideoCapture:
    if not path.is_file():
        raise VideoError(f"video not found: {path}")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise VideoError(f"{path}: OpenCV cannot open it as a video (corrupt, truncated or not a video file)")
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
            raise VideoError(f"{path}: the container gives no frame rate; re-mux it with one (e.g. ffmpeg -r)")
        height, width = first.shape[:2]
        return VideoInfo(fps=float(fps), frame_count=max(count, 1), width=int(width), height=int(height))
    finally:
        capture.release()


def frames(path: Path, fps: float, wanted: set[int] | None = None) -> Iterator[Frame]:
    """Stream frames in order; with ``wanted``, decode only those indices' pixels (grab the rest).

    Timestamps are index / fps: the recording's nominal frame clock, the same on every rerun.
    """
    if wanted is not None and not wanted:
        return
    capture = _open(path)
    try:
        last = max(wanted) if wanted is not None else None
        index = 0
        while last is None or index <= last:
            if wanted is not None and index not in wanted:
                if not capture.grab():
                    break
            else:
                ok, image = capture.read()
                if not ok:
                    break
                yield Frame(index=index, timestamp_s=index / fps, image=image)
            index += 1
    finally:
        capture.release()
