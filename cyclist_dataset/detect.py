"""Detect stage: persons and bicycles in every frame of a video.

Detectors sit behind one small interface (``Detector``): a batch of BGR frames in, one
``Detections`` per frame out, with ``identity`` naming the exact model for the lineage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Protocol, Sequence

import cv2
import numpy as np
import pyarrow as pa
from tqdm import tqdm

from cyclist_dataset import assets, schemas
from cyclist_dataset.config import DetectConfig
from cyclist_dataset.detections import Detections
from cyclist_dataset.errors import UserError
from cyclist_dataset.video import Frame


class Detector(Protocol):
    identity: str  # backend, model file and its SHA-256

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


@dataclass(frozen=True)
class Letterbox:
    """How a frame was scaled into the model input (top-left aligned, grey padding, as YOLOX trains)."""

    scale: float

    @staticmethod
    def apply(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, "Letterbox"]:
        height, width = image.shape[:2]
        scale = min(size[0] / height, size[1] / width)
        resized = cv2.resize(image, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_LINEAR)
        padded = np.full((size[0], size[1], 3), 114, dtype=np.uint8)
        padded[: resized.shape[0], : resized.shape[1]] = resized
        return padded, Letterbox(scale)


class YoloxOnnxDetector:
    """Any YOLOX ONNX export with raw head outputs (grid/stride decoding and NMS done here)."""

    STRIDES = (8, 16, 32)

    def __init__(self, model: Path, class_names: Sequence[str], config: DetectConfig,
                 providers: Sequence[str] = ("CPUExecutionProvider",)) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(model), options, providers=list(providers))
        self.input = self.session.get_inputs()[0]
        self.input_size = tuple(int(d) for d in self.input.shape[2:4])
        unknown = [c for c in config.classes if c not in class_names]
        if unknown:
            raise UserError(f"detect.classes {unknown} are not classes of {model.name}")
        self.class_ids = np.array([list(class_names).index(c) for c in config.classes])
        self.class_names = np.array(list(config.classes), dtype=object)
        self.score_min = config.score_min
        self.nms_iou = config.nms_iou
        self.identity = f"yolox_onnx:{model.name}@sha256:{assets.sha256_of(model)}"
        self._grid, self._stride = self._grids(self.input_size)

    @classmethod
    def _grids(cls, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        grids, strides = [], []
        for stride in cls.STRIDES:
            h, w = size[0] // stride, size[1] // stride
            xv, yv = np.meshgrid(np.arange(w), np.arange(h))
            grids.append(np.stack((xv, yv), 2).reshape(-1, 2))
            strides.append(np.full((h * w, 1), stride))
        return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        padded, box = Letterbox.apply(image, self.input_size)
        return np.ascontiguousarray(padded.transpose(2, 0, 1), dtype=np.float32), box

    def infer(self, blobs: np.ndarray) -> np.ndarray:
        # The export has a fixed batch of 1 (checked: yolox_nano.onnx is 1x3x416x416).
        return np.concatenate([self.session.run(None, {self.input.name: blob[None]})[0] for blob in blobs])

    def postprocess(self, raw: np.ndarray, letterbox: Letterbox) -> Detections:
        xy = (raw[:, :2] + self._grid) * self._stride
        wh = np.exp(raw[:, 2:4]) * self._stride
        scores = raw[:, 4:5] * raw[:, 5:][:, self.class_ids]  # objectness x class probability
        best = scores.argmax(1)
        best_score = scores[np.arange(len(scores)), best]
        keep = best_score >= self.score_min
        if not keep.any():
            return Detections.empty()
        xy, wh, best, best_score = xy[keep], wh[keep], best[keep], best_score[keep]
        xyxy = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1) / letterbox.scale
        chosen = cv2.dnn.NMSBoxesBatched(
            [list(map(float, (x1, y1, x2 - x1, y2 - y1))) for x1, y1, x2, y2 in xyxy],
            best_score.astype(float).tolist(), best.astype(int).tolist(), self.score_min, self.nms_iou,
        )
        chosen = np.array(sorted(np.asarray(chosen, dtype=int).reshape(-1)), dtype=int)
        return Detections(xyxy[chosen].astype(np.float32), best_score[chosen].astype(np.float32),
                          self.class_names[best[chosen]])

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        prepared = [self.preprocess(image) for image in images]
        raw = self.infer(np.stack([blob for blob, _ in prepared]))
        return [self.postprocess(out, box) for out, (_, box) in zip(raw, prepared)]


def model_path(config: DetectConfig) -> Path:
    """The model file: a registry asset (hash-checked) or a file given in the pipeline."""
    model = assets.path(config.model) if config.model in assets.REGISTRY else Path(config.model)
    if not model.is_file():
        raise UserError(f"detect.model {config.model!r} is neither a registry asset nor an existing file")
    return model


def make_detector(config: DetectConfig) -> Detector:
    model = model_path(config)
    class_names = assets.path("models/coco_classes.txt").read_text().split("\n")
    return YoloxOnnxDetector(model, [c.strip() for c in class_names if c.strip()], config)


def detect_frames(frames: Iterable[Frame], detector: Detector, video_id: str, total: int | None = None,
                  batch_size: int = 1) -> pa.Table:
    """Run a detector over streamed frames; one table row per box."""
    columns: dict[str, list] = {name: [] for name in schemas.RAW_DETECTIONS.names}
    batch: list[Frame] = []

    def flush() -> None:
        for frame, found in zip(batch, detector.detect([f.image for f in batch])):
            n = len(found)
            columns["video_id"] += [video_id] * n
            columns["frame_index"] += [frame.index] * n
            columns["timestamp_s"] += [frame.timestamp_s] * n
            columns["class_name"] += list(found.class_name)
            columns["score"] += found.score.tolist()
            for i, name in enumerate(("x1", "y1", "x2", "y2")):
                columns[name] += found.xyxy[:, i].tolist()
        batch.clear()

    for frame in tqdm(frames, total=total, desc=f"detect {video_id}", unit="frame", leave=False):
        batch.append(frame)
        if len(batch) >= batch_size:
            flush()
    if batch:
        flush()
    columns["detection_id"] = list(range(len(columns["score"])))
    columns["model"] = [detector.identity] * len(columns["score"])
    return schemas.table(schemas.RAW_DETECTIONS, columns)
