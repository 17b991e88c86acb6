"""A small workspace written directly (no pipeline run): a split manifest and real JPEG crops.

For the label, release and pull tests that need exact times and many cameras; the real footage is
covered by test_multicam.py and the demo workspace.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cyclist_dataset.core import schemas
from cyclist_dataset.io.workspace import Workspace, write_result
from cyclist_dataset.stages.anonymize.audit import AUDIT_VERSION

T0 = datetime(2020, 6, 1, 10, 50, 0, tzinfo=UTC)
# The audit these crops record as passed; the unit tier's conftest makes it the current one (the
# real definition needs the face models' files, which the unit tier does not have).
SYNTHETIC_AUDIT = {
    "version": AUDIT_VERSION,
    "detectors": ["yunet:synthetic.onnx@sha256:0"],
    "thresholds": {"yunet": 0.65},
    "views": {
        "face_px": [12, 200],
        "head_fraction": 0.3,
        "crop_min_face_fraction": 0.0625,
        "interpolations": ["bicubic", "bilinear"],
        "snap_to_native": 0.1,
        "ladder_slack": 0.05,
        "grid_slack": 0.03,
        "detector_views": {"yunet": {"regions": ["head", "crop"], "margin": 0.7}},
    },
}


@dataclass(frozen=True)
class Tracklet:
    tracklet_id: str
    camera: str
    start: datetime
    n: int = 4  # crops, 0.5 s apart
    split: str = "validation"
    location: str = "town"
    colour: tuple[int, int, int] = (40, 80, 160)
    audited: bool = True  # its crops record a passing verdict of SYNTHETIC_AUDIT


def make_workspace(
    root: Path, tracklets: list[Tracklet], validation_start: dict[str, int] | None = None
) -> Path:
    """Write crops and one split manifest file per (location, camera) 'video'; each location's
    validation window starts at minute 50 unless ``validation_start`` says otherwise."""
    workspace = Workspace(root)
    rows = []
    for t in tracklets:
        # 2 frames/s from the hour's start: one video per camera, as a pipeline makes them
        first = round(
            (t.start - t.start.replace(minute=0, second=0, microsecond=0)).total_seconds() * 2
        )
        for i in range(t.n):
            path = (
                workspace.crop_dir(t.location, t.camera, t.tracklet_id)
                / f"{t.tracklet_id}_f{i:06d}.jpg"
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            image = np.full((64 + 4 * i, 32, 3), t.colour, np.uint8)
            image[: 8 + i] = 255 - np.array(t.colour, np.uint8)  # differs per crop: distinct files
            cv2.imwrite(str(path), image)
            rows.append(
                {
                    "crop_path": workspace.relative(path),
                    "location": t.location,
                    "camera": t.camera,
                    "tracklet_id": t.tracklet_id,
                    "video_id": f"{t.location}_{t.camera}",
                    "frame_index": first + i,
                    "timestamp_s": 0.5 * (first + i),
                    "timestamp": t.start + timedelta(seconds=0.5 * i),
                    "detection_id": i,
                    "score": 0.9,
                    "interpolated": False,
                    "x1": 10.0,
                    "y1": 10.0,
                    "x2": 42.0,
                    "y2": 74.0 + 4 * i,
                    "model": "test:model@sha256:0",
                    "anonymization": json.dumps(
                        {"method": "median", "window_px": 5}
                        | ({"audit": SYNTHETIC_AUDIT | {"escalations": i % 2}} if t.audited else {})
                    ),
                    "audit_passed": True if t.audited else None,
                    "audit_escalations": i % 2 if t.audited else None,
                    "split": t.split,
                }
            )
    frame = pd.DataFrame(rows)
    for video_id, part in frame.groupby("video_id"):
        start = (validation_start or {}).get(part["location"].iloc[0], 50)
        # Columns other stages may add (e.g. the privacy audit's) are left null.
        table = schemas.table(
            schemas.CROPS,
            {
                name: [None if pd.isna(v) else v for v in part[name]]
                if name in part
                else [None] * len(part)
                for name in schemas.CROPS.names
            },
        )
        write_result(
            table,
            workspace.stage_output("split", video_id),
            "synthetic",
            {
                "split": {
                    "validation_start_minute": start,
                    "validation_minutes": 10,
                    "guard_s": 30,
                },
                "timezone": "UTC",
            },
        )
    return Path(root)


def town(root: Path) -> Path:
    """Location town (cameras A, B) and city (camera C); times relative to 10:50:00 UTC.

    A1 10:50:00-01.5, A2 10:52:00, B1 10:50:30, B2 10:50:01 (overlaps A1), A0 train, C1 at city.
    """
    return make_workspace(
        root,
        [
            Tracklet("town_A_t0001", "A", T0),
            Tracklet("town_A_t0002", "A", T0 + timedelta(minutes=2), colour=(200, 30, 30)),
            Tracklet("town_B_t0001", "B", T0 + timedelta(seconds=30), colour=(40, 85, 150)),
            Tracklet("town_B_t0002", "B", T0 + timedelta(seconds=1), colour=(200, 40, 40)),
            Tracklet("town_A_t0000", "A", T0 - timedelta(minutes=30), split="train"),
            Tracklet("city_C_t0001", "C", T0, location="city"),
        ],
    )
