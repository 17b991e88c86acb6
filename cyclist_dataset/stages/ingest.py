"""Ingest stage: register a video with what later stages need to know about it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa

from cyclist_dataset.core import schemas
from cyclist_dataset.io import video
from cyclist_dataset.io.hashing import sha256_of


def ingest_video(
    path: Path,
    video_id: str,
    location: str,
    camera: str,
    source: str,
    start_time: datetime,
    sha256: str | None = None,
) -> pa.Table:
    """One row: identity (SHA-256), recording start (UTC) and the probed fps, length and
    resolution."""
    info = video.probe(path)
    row = {
        "video_id": video_id,
        "location": location,
        "camera": camera,
        "source": source,
        "path": str(path),
        "sha256": sha256 or sha256_of(path),
        "size_bytes": path.stat().st_size,
        "start_time": start_time,
        "fps": info.fps,
        "frame_count": info.frame_count,
        "duration_s": info.duration_s,
        "width": info.width,
        "height": info.height,
    }
    return schemas.table(schemas.VIDEOS, {name: [value] for name, value in row.items()})
