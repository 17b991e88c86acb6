"""Blur kernels and regions: how a crop (or part of one) is made unrecognisable.

``median`` (default), ``gaussian``, ``average``: OpenCV's filter with a window of ``window_px`` at a
crop height of ``reference_height_px`` (thesis: 5 px at 128 px), scaled with the crop and rounded
up to odd, so every crop size is blurred alike.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from cyclist_dataset.core.config import AnonymizeConfig
from cyclist_dataset.core.geometry import grow_box
from cyclist_dataset.stages.anonymize.faces import EMPTY


def blur_window(crop_height: int, config: AnonymizeConfig) -> int:
    """The blur window for a crop: ``window_px`` at ``reference_height_px``, scaled with the crop.

    Scaling keeps a 400 px crop as unrecognisable as a 128 px one. Rounded *up* to the next odd
    size (kernels are centred), never below 3: privacy never gets less blur than the thesis's ratio.
    """
    window = max(3, math.ceil(config.window_px * crop_height / config.reference_height_px - 1e-9))
    return window if window % 2 else window + 1


# Gaussian sigma per pixel of window: OpenCV's default sigma for the thesis's 5 px kernel (1.1),
# scaled with the window (OpenCV's own default grows slower than the kernel, blurring large crops
# less).
GAUSSIAN_SIGMA_PER_PX = 0.22


def blur(image: np.ndarray, method: str, window: int) -> np.ndarray:
    """OpenCV's filter with a ``window`` x ``window`` kernel (odd)."""
    if method == "median":
        return cv2.medianBlur(image, window)
    if method == "gaussian":
        sigma = GAUSSIAN_SIGMA_PER_PX * window
        return cv2.GaussianBlur(image, (window, window), sigmaX=sigma, sigmaY=sigma)
    if method == "average":
        return cv2.blur(image, (window, window))
    raise ValueError(f"unknown blur method {method!r}")


def odd_window(value: float) -> int:
    size = max(3, math.ceil(value - 1e-9))
    return size if size % 2 else size + 1


def blur_region(
    image: np.ndarray, box: tuple[int, int, int, int], method: str, window: int
) -> None:
    """Blur ``image[y1:y2, x1:x2]`` in place; the filter sees the pixels around the region (no
    replicated border inside the crop)."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return
    height, width = image.shape[:2]
    pad = window // 2 + 1
    px1, py1, px2, py2 = (
        max(0, x1 - pad),
        max(0, y1 - pad),
        min(width, x2 + pad),
        min(height, y2 + pad),
    )
    blurred = blur(np.ascontiguousarray(image[py1:py2, px1:px2]), method, window)
    image[y1:y2, x1:x2] = blurred[y1 - py1 : y2 - py1, x1 - px1 : x2 - px1]


def face_region(face: np.ndarray, scale: float, min_aspect: float = 0.8) -> np.ndarray:
    """The region blurred for a face box: at least ``min_aspect`` as wide as high (detectors give
    narrow boxes for profiles, whose nose and glasses stick out), then grown by ``scale``."""
    x1, y1, x2, y2 = face[:4]
    width, height = x2 - x1, y2 - y1
    if width < min_aspect * height:
        cx = (x1 + x2) / 2
        x1, x2 = cx - min_aspect * height / 2, cx + min_aspect * height / 2
    return grow_box(np.array([x1, y1, x2, y2]), scale)


def to_relative(faces: np.ndarray, width: int, height: int) -> np.ndarray:
    return (
        faces / np.array([width, height, width, height, 1.0], dtype=np.float32)
        if len(faces)
        else EMPTY
    )


def to_absolute(faces: np.ndarray, width: int, height: int) -> np.ndarray:
    return (
        faces * np.array([width, height, width, height, 1.0], dtype=np.float32)
        if len(faces)
        else EMPTY
    )
