"""YOLOX through onnxruntime: any YOLOX ONNX export with raw head outputs."""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cyclist_dataset.core.config import RuntimeConfig, YoloxConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.hashing import sha256_of


@dataclass(frozen=True)
class Letterbox:
    """How a frame was scaled into the model input (top-left aligned, grey padding, as YOLOX
    trains)."""

    scale: float

    @staticmethod
    def apply(image: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, Letterbox]:
        height, width = image.shape[:2]
        scale = min(size[0] / height, size[1] / width)
        resized = cv2.resize(
            image, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_LINEAR
        )
        padded = np.full((size[0], size[1], 3), 114, dtype=np.uint8)
        padded[: resized.shape[0], : resized.shape[1]] = resized
        return padded, Letterbox(scale)


class YoloxOnnxDetector:
    """Any YOLOX ONNX export with raw head outputs (grid/stride decoding and NMS done here)."""

    STRIDES = (8, 16, 32)

    def __init__(
        self,
        model: Path,
        class_names: Sequence[str],
        config: YoloxConfig,
        runtime: RuntimeConfig = RuntimeConfig(),
    ) -> None:
        import onnxruntime as ort

        providers = choose_providers(runtime.providers)
        options = ort.SessionOptions()
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(model), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own types for every kind of bad file
            reason = (
                str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            )
            raise UserError(
                f"{model}: onnxruntime cannot load it as an ONNX model ({reason}); "
                "check detect.model (a YOLOX ONNX export)"
            ) from None
        self.input = session.get_inputs()[0]
        if not all(isinstance(d, int) for d in self.input.shape[2:4]):
            raise UserError(
                f"{model}: the input size must be fixed in the export, got {self.input.shape}"
            )
        self.input_size = (int(self.input.shape[2]), int(self.input.shape[3]))
        # Exports with a fixed batch of 1 (yolox_nano.onnx is 1x3x416x416) run frame by frame. On
        # CPU, one single-threaded session per core, each on its own frames, beats one session's
        # intra-op threads for a model this small (measured on 2 cores: 194 vs 142 frames/s).
        # Single-threaded sessions also give the same numbers whatever the machine's core count.
        self.batched = not isinstance(self.input.shape[0], int) or self.input.shape[0] != 1
        workers = runtime.inference_workers or (os.cpu_count() or 1)
        if self.batched or providers[0] != "CPUExecutionProvider":
            self.sessions = [session]
        else:
            options.intra_op_num_threads = 1
            self.sessions = [
                ort.InferenceSession(str(model), options, providers=providers)
                for _ in range(workers)
            ]
        self._pool = ThreadPoolExecutor(len(self.sessions)) if len(self.sessions) > 1 else None
        unknown = [c for c in config.classes if c not in class_names]
        if unknown:
            raise UserError(f"detect.classes {unknown} are not classes of {model.name}")
        self.class_ids = np.array([list(class_names).index(c) for c in config.classes])
        self.class_names = np.array(list(config.classes), dtype=object)
        self.score_min = config.score_min
        self.nms_iou = config.nms_iou
        self.identity = f"yolox_onnx:{model.name}@sha256:{sha256_of(model)}"
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
        if self.batched:
            return self.sessions[0].run(None, {self.input.name: blobs})[0]

        def run(
            worker: int,
        ) -> list[np.ndarray]:  # frames worker, worker + n, ...: onnxruntime releases the GIL
            return [
                self.sessions[worker].run(None, {self.input.name: blob[None]})[0][0]
                for blob in blobs[worker :: len(self.sessions)]
            ]

        per_worker = (
            list(self._pool.map(run, range(len(self.sessions)))) if self._pool else [run(0)]
        )
        out: list[Any] = [None] * len(blobs)  # filled below, every slot
        for worker, results in enumerate(per_worker):
            out[worker :: len(self.sessions)] = results
        return np.stack(out)

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
        xywh = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], axis=1)
        chosen = cv2.dnn.NMSBoxesBatched(
            xywh.astype(np.float64).tolist(),
            best_score.astype(float).tolist(),
            best.astype(int).tolist(),
            self.score_min,
            self.nms_iou,
        )
        order = np.array(sorted(np.asarray(chosen, dtype=int).reshape(-1)), dtype=int)
        return Detections(
            xyxy[order].astype(np.float32),
            best_score[order].astype(np.float32),
            self.class_names[best[order]],
        )

    def prepare(self, image: np.ndarray) -> tuple[np.ndarray, Letterbox]:
        return self.preprocess(image)

    def detect_prepared(self, prepared: Sequence[tuple[np.ndarray, Letterbox]]) -> list[Detections]:
        raw = self.infer(np.stack([blob for blob, _ in prepared]))
        return [self.postprocess(out, box) for out, (_, box) in zip(raw, prepared, strict=True)]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        return self.detect_prepared([self.preprocess(image) for image in images])


def choose_providers(requested: Sequence[str]) -> list[str]:
    """The requested onnxruntime providers, or CUDA when available, else CPU.

    Never onnxruntime's own default order: it may pick the slow AzureExecutionProvider.
    """
    import onnxruntime as ort

    available = ort.get_available_providers()
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise UserError(
                f"runtime.providers {missing} are not available here; available: {available}"
            )
        return list(requested)
    if "CUDAExecutionProvider" in available:
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]
