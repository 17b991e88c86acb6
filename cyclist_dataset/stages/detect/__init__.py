"""Detect stage: persons and bicycles in every (sampled) frame of a video, riders paired with
bicycles.

Detectors sit behind one small interface (``Detector``): ``prepare`` turns one BGR frame into
model input (thread-safe, runs in the decode thread so it overlaps inference) and
``detect_prepared`` runs a batch; ``identity`` names the exact model for the lineage.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa
from tqdm import tqdm

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import DetectSection, FasterRcnnConfig, RuntimeConfig, YoloxConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.geometry import BOX_COLUMNS
from cyclist_dataset.errors import UserError
from cyclist_dataset.io import assets
from cyclist_dataset.io.hashing import sha256_of
from cyclist_dataset.io.video import Frame, prefetched
from cyclist_dataset.stages.detect.pairing import pair_riders

BICYCLE_BOX = tuple(f"bicycle_{c}" for c in BOX_COLUMNS)


class Detector(Protocol):
    identity: str  # backend, model and weights (file SHA-256 or torchvision weights enum)

    def prepare(self, image: np.ndarray) -> Any: ...

    def detect_prepared(self, prepared: Sequence[Any]) -> list[Detections]: ...


def model_path(config: YoloxConfig) -> Path:
    """The YOLOX model file: a registry asset (hash-checked) or a file given in the pipeline."""
    model = assets.path(config.model) if config.model in assets.REGISTRY else Path(config.model)
    if not model.is_file():
        raise UserError(
            f"detect.model {config.model!r} is neither a registry asset nor an existing file"
        )
    return model


def weights_sha256(config: DetectSection) -> str:
    """The content identity of the model a config selects, for fingerprints (no model is loaded)."""
    if isinstance(config, YoloxConfig):
        return sha256_of(model_path(config))
    if config.weights == "DEFAULT":
        # torchvision checks the file's hash itself
        return f"torchvision:{config.architecture}:DEFAULT"
    path = Path(config.weights)
    if not path.is_file():
        raise UserError(f"detect.weights: checkpoint not found: {path}")
    return sha256_of(path)


def make_detector(config: DetectSection, runtime: RuntimeConfig = RuntimeConfig()) -> Detector:
    if isinstance(config, FasterRcnnConfig):
        from cyclist_dataset.stages.detect.faster_rcnn import (
            FasterRcnnDetector,  # torch loads only when used
        )

        return FasterRcnnDetector(
            config.architecture,
            config.weights,
            config.classes,
            config.score_min,
            runtime.device,
            config.half,
            config.nms_iou,
        )
    from cyclist_dataset.stages.detect.yolox import YoloxOnnxDetector

    class_names = [
        c.strip()
        for c in assets.path("models/coco_classes.txt").read_text().splitlines()
        if c.strip()
    ]
    return YoloxOnnxDetector(model_path(config), class_names, config, runtime)


def _rows(frame: Frame, found: Detections, min_overlap: float) -> dict[str, list]:
    """Table columns for one frame's boxes, each person with its paired bicycle (or nulls)."""
    persons = np.flatnonzero(found.class_name == "person")
    bicycles = np.flatnonzero(found.class_name == "bicycle")
    paired = pair_riders(found.xyxy[persons], found.xyxy[bicycles], min_overlap)
    bicycle_of = np.full(len(found), -1)
    bicycle_of[persons[paired >= 0]] = bicycles[paired[paired >= 0]]
    n = len(found)
    columns: dict[str, list] = {
        "frame_index": [frame.index] * n,
        "timestamp_s": [frame.timestamp_s] * n,
        "class_name": list(found.class_name),
        "score": found.score.tolist(),
        **{name: found.xyxy[:, i].tolist() for i, name in enumerate(BOX_COLUMNS)},
        # index within this frame, resolved to detection ids later
        "bicycle_index": bicycle_of.tolist(),
    }
    return columns


def detect_frames(
    frames: Iterable[Frame],
    detector: Detector,
    video_id: str,
    config: DetectSection,
    runtime: RuntimeConfig = RuntimeConfig(),
    total: int | None = None,
) -> pa.Table:
    """Run a detector over streamed frames (decoded and prepared in a background thread, inferred
    in batches); one table row per box."""
    columns: dict[str, list] = {name: [] for name in schemas.RAW_DETECTIONS.names}
    bicycle_index: list[int] = []  # row number of each box's paired bicycle in this video, or -1

    def flush(batch: list[tuple[Frame, Any]]) -> None:
        for (frame, _), found in zip(
            batch, detector.detect_prepared([p for _, p in batch]), strict=True
        ):
            offset = len(columns["score"])
            rows = _rows(frame, found, config.pairing_min_overlap)
            bicycle_index.extend(i + offset if i >= 0 else -1 for i in rows.pop("bicycle_index"))
            for name, values in rows.items():
                columns[name] += values

    batch: list[tuple[Frame, Any]] = []
    stream: Iterator[tuple[Frame, Any]] = (
        (frame, detector.prepare(frame.image)) for frame in frames
    )
    if runtime.prefetch:
        stream = prefetched(stream)
    for frame, prepared in tqdm(
        stream, total=total, desc=f"detect {video_id}", unit="frame", leave=False
    ):
        batch.append((frame, prepared))
        if len(batch) >= runtime.batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)

    n = len(columns["score"])
    columns["video_id"] = [video_id] * n
    columns["detection_id"] = list(range(n))
    columns["model"] = [detector.identity] * n
    columns["bicycle_detection_id"] = [i if i >= 0 else None for i in bicycle_index]
    for name, source in zip(BICYCLE_BOX, BOX_COLUMNS, strict=True):
        columns[name] = [columns[source][i] if i >= 0 else None for i in bicycle_index]
    columns["bicycle_score"] = [columns["score"][i] if i >= 0 else None for i in bicycle_index]
    return schemas.table(schemas.RAW_DETECTIONS, columns)
