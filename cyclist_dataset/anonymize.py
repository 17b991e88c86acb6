"""Anonymize stage: cut each tracklet box out of its frame, blur it, and only then write it.

A crop exists unblurred only in memory: it is blurred, JPEG-encoded in memory, and written to a
temporary file that is renamed into place, so no unblurred pixel ever reaches the disk.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
from tqdm import tqdm

from cyclist_dataset import schemas, video
from cyclist_dataset.config import AnonymizeConfig
from cyclist_dataset.workspace import Workspace, atomic_path


def blur_window(crop_height: int, config: AnonymizeConfig) -> int:
    """The blur window for a crop: ``window_px`` at ``reference_height_px``, scaled with the crop.

    Scaling keeps a 400 px crop as unrecognisable as a 128 px one. Rounded *up* to the next odd
    size (kernels are centred), never below 3: privacy never gets less blur than the thesis's ratio.
    """
    window = max(3, math.ceil(config.window_px * crop_height / config.reference_height_px - 1e-9))
    return window if window % 2 else window + 1


def blur(image: np.ndarray, method: str, window: int) -> np.ndarray:
    if method == "median":
        return cv2.medianBlur(image, window)
    if method == "gaussian":
        return cv2.GaussianBlur(image, (window, window), 0)
    if method == "average":
        return cv2.blur(image, (window, window))
    raise ValueError(f"unknown blur method {method!r}")


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel bounds of a box inside the frame (outward rounding: nothing of the person is cut off)."""
    x1, y1, x2, y2 = box
    return (max(0, int(math.floor(x1))), max(0, int(math.floor(y1))),
            min(width, int(math.ceil(x2))), min(height, int(math.ceil(y2))))


def anonymize_crop(crop: np.ndarray, config: AnonymizeConfig) -> tuple[np.ndarray, dict]:
    window = blur_window(crop.shape[0], config)
    return blur(crop, config.method, window), {"method": config.method, "window_px": window,
                                                "reference": [config.window_px, config.reference_height_px]}


def crop_box(row, mode: str) -> np.ndarray:
    """The region to cut out: the rider's box, or (``rider_and_bicycle``) its union with the paired bicycle."""
    box = np.array([row.x1, row.y1, row.x2, row.y2], dtype=float)
    if mode == "rider_and_bicycle" and not pd.isna(row.bicycle_x1):
        bicycle = np.array([row.bicycle_x1, row.bicycle_y1, row.bicycle_x2, row.bicycle_y2], dtype=float)
        box = np.concatenate([np.minimum(box[:2], bicycle[:2]), np.maximum(box[2:], bicycle[2:])])
    return box


def crop_file_name(tracklet_id: str, camera: str, frame_index: int) -> str:
    """Market-1501-like: identity (tracklet), camera, frame."""
    return f"{tracklet_id}_{camera}_f{frame_index:06d}.jpg"


def remove_video_crops(workspace: Workspace, location: str, camera: str, video_id: str) -> None:
    """Delete crop folders of an earlier run of this video, so a changed result leaves no stale crops."""
    root = workspace.camera_crop_root(location, camera)
    if not root.is_dir():
        return
    pattern = re.compile(rf"^{re.escape(video_id)}_t\d+$")
    for folder in root.iterdir():
        if folder.is_dir() and pattern.match(folder.name):
            shutil.rmtree(folder)


def write_crops(video_path: Path, fps: float, start_time: datetime, tracklets: pa.Table,
                workspace: Workspace, config: AnonymizeConfig) -> pa.Table:
    """Write one blurred JPEG per tracklet row; return the crop rows (without split)."""
    rows = tracklets.to_pandas().sort_values(["frame_index", "tracklet_id"], kind="stable")
    by_frame = {index: group for index, group in rows.groupby("frame_index", sort=True)}
    columns: dict[str, list] = {name: [] for name in schemas.CROPS_UNSPLIT.names}
    encode = [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]
    progress = tqdm(total=len(rows), desc=f"crops {video_path.stem}",
                    unit="crop", leave=False)
    for frame in video.frames(video_path, fps, wanted=set(by_frame)):
        height, width = frame.image.shape[:2]
        for row in by_frame[frame.index].itertuples(index=False):
            x1, y1, x2, y2 = clip_box(crop_box(row, config.crop), width, height)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            blurred, params = anonymize_crop(frame.image[y1:y2, x1:x2], config)
            params["crop"] = config.crop
            ok, jpeg = cv2.imencode(".jpg", blurred, encode)
            if not ok:
                raise RuntimeError(f"JPEG encoding failed for {row.tracklet_id} frame {frame.index}")
            target = workspace.crop_dir(row.location, row.camera, row.tracklet_id) / crop_file_name(
                row.tracklet_id, row.camera, frame.index)
            with atomic_path(target) as tmp:
                tmp.write_bytes(jpeg.tobytes())
            columns["crop_path"].append(workspace.relative(target))
            for name in ("location", "camera", "tracklet_id", "video_id", "frame_index", "timestamp_s",
                         "detection_id", "score", "model"):
                columns[name].append(getattr(row, name))
            for name, value in zip(("x1", "y1", "x2", "y2"), (x1, y1, x2, y2)):
                columns[name].append(value)
            columns["timestamp"].append(start_time + timedelta(seconds=frame.timestamp_s))
            columns["anonymization"].append(json.dumps(params, sort_keys=True))
            progress.update()
    progress.close()
    return schemas.table(schemas.CROPS_UNSPLIT, columns)
