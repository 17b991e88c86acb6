"""Detect stage: persons and bicycles in every (sampled) frame of a video, riders paired with
bicycles.

Detectors sit behind one small interface (``Detector``): ``prepare`` turns one BGR frame into
model input (thread-safe, runs in the decode thread so it overlaps inference) and
``detect_prepared`` runs a batch; ``identity`` names the exact model for the lineage.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import (
    DetectSection,
    FasterRcnnConfig,
    ImportConfig,
    RuntimeConfig,
    YoloxConfig,
)
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.geometry import BOX_COLUMNS
from cyclist_dataset.errors import UserError
from cyclist_dataset.io import assets, progress
from cyclist_dataset.io.hashing import sha256_of
from cyclist_dataset.io.video import Frame, prefetched
from cyclist_dataset.stages.detect import imported
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
    if isinstance(config, ImportConfig):
        return "import"  # no model: each video's file's SHA-256 is in its detect parameters
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
    if isinstance(config, ImportConfig):
        raise UserError(
            "detect.backend = import reads detection files and runs no model; for a model on "
            "frames use backend = yolox_onnx or faster_rcnn"
        )
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


class _Table:
    """The raw detections table of one video, built frame by frame: each person with its paired
    bicycle (or nulls)."""

    def __init__(self, pairing_min_overlap: float) -> None:
        self.min_overlap = pairing_min_overlap
        self.columns: dict[str, list] = {name: [] for name in schemas.RAW_DETECTIONS.names}
        # row number of each box's paired bicycle in this video, or -1
        self.bicycle_index: list[int] = []

    def add(self, frame_index: int, timestamp_s: float, found: Detections) -> None:
        persons = np.flatnonzero(found.class_name == "person")
        bicycles = np.flatnonzero(found.class_name == "bicycle")
        paired = pair_riders(found.xyxy[persons], found.xyxy[bicycles], self.min_overlap)
        bicycle_of = np.full(len(found), -1)
        bicycle_of[persons[paired >= 0]] = bicycles[paired[paired >= 0]]
        # An imported `cyclist` box holds rider and bicycle: it is its own bicycle.
        cyclists = np.flatnonzero(found.class_name == "cyclist")
        bicycle_of[cyclists] = cyclists
        offset, n = len(self.columns["score"]), len(found)
        self.bicycle_index.extend(int(i) + offset if i >= 0 else -1 for i in bicycle_of)
        self.columns["frame_index"] += [frame_index] * n
        self.columns["timestamp_s"] += [timestamp_s] * n
        self.columns["class_name"] += list(found.class_name)
        self.columns["score"] += found.score.tolist()
        for i, name in enumerate(BOX_COLUMNS):
            self.columns[name] += found.xyxy[:, i].tolist()

    def table(self, video_id: str, model: str) -> pa.Table:
        columns, bicycle_index = self.columns, self.bicycle_index
        n = len(columns["score"])
        columns["video_id"] = [video_id] * n
        columns["detection_id"] = list(range(n))
        columns["model"] = [model] * n
        columns["bicycle_detection_id"] = [i if i >= 0 else None for i in bicycle_index]
        for name, source in zip(BICYCLE_BOX, BOX_COLUMNS, strict=True):
            columns[name] = [columns[source][i] if i >= 0 else None for i in bicycle_index]
        columns["bicycle_score"] = [columns["score"][i] if i >= 0 else None for i in bicycle_index]
        return schemas.table(schemas.RAW_DETECTIONS, columns)


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
    table = _Table(config.pairing_min_overlap)

    def flush(batch: list[tuple[Frame, Any]]) -> None:
        for (frame, _), found in zip(
            batch, detector.detect_prepared([p for _, p in batch]), strict=True
        ):
            table.add(frame.index, frame.timestamp_s, found)

    batch: list[tuple[Frame, Any]] = []
    stream: Iterator[tuple[Frame, Any]] = (
        (frame, detector.prepare(frame.image)) for frame in frames
    )
    if runtime.prefetch:
        stream = prefetched(stream)
    for frame, prepared in progress.iterate(
        stream, f"detect {video_id}", total=total, unit="frame"
    ):
        batch.append((frame, prepared))
        if len(batch) >= runtime.batch_size:
            flush(batch)
            batch = []
    if batch:
        flush(batch)
    return table.table(video_id, detector.identity)


def import_detections(
    path: Path,
    config: ImportConfig,
    video_id: str,
    video: imported.VideoShape,
    sampled: Collection[int] | None = None,
) -> tuple[pa.Table, imported.ImportedDetections]:
    """The raw detections table of one video from another tool's file (``imported``), and what
    the file said; the `model` column names the file and the model it declares. ``sampled``: the
    frames the other tool ran on (with ``sample_fps``); a box in any other frame is an error.
    Timestamps are index / fps, as for decoded frames."""
    found = imported.read_detections(path, config, video)
    if sampled is not None:
        outside = sorted(set(found.frames) - set(sampled))
        if outside:
            raise UserError(
                f"{path}: boxes in frame {outside[0] + 1} (1-based), which detect.sample_fps = "
                f"{config.sample_fps} says the other tool did not look at"
            )
    table = _Table(config.pairing_min_overlap)
    for index, boxes in found.frames.items():
        table.add(index, index / video.fps, boxes)
    return table.table(video_id, found.source), found
