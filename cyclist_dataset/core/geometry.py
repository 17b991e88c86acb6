"""Box geometry, in one place: boxes are ``x1, y1, x2, y2`` in pixels of the original frame."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

BOX_COLUMNS = ("x1", "y1", "x2", "y2")  # how every table stores a box


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IOU of two boxes, in plain Python: for one pair this is ~10x faster than numpy's per-call
    cost (the tracker matches small frames pair by pair, see ``stages.track.association``)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _intersection(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0])
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1])
    return np.maximum(iw, 0.0) * np.maximum(ih, 0.0)


def area(boxes: np.ndarray) -> np.ndarray:
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) IOU of every box of ``a`` (A, 4) with every box of ``b`` (B, 4)."""
    inter = _intersection(a, b)
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def iou_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) IOU of each box of ``a`` (N, 4) with the box in the same row of ``b`` (N, 4)."""
    iw = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    ih = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.maximum(iw, 0.0) * np.maximum(ih, 0.0)
    return inter / np.maximum(area(a) + area(b) - inter, 1e-9)


def coverage(covering: np.ndarray, covered: np.ndarray) -> np.ndarray:
    """(A, B): the share of each ``covered`` box's area that lies inside each ``covering`` box
    (how much of a bicycle a rider's box covers)."""
    return _intersection(covering, covered) / np.maximum(area(covered), 1e-9)[None, :]


def union_box(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest box holding both boxes."""
    return np.concatenate([np.minimum(a[:2], b[:2]), np.maximum(a[2:4], b[2:4])])


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel bounds of a box inside the frame (outward rounding: nothing of the person is
    cut off)."""
    x1, y1, x2, y2 = box[:4]
    return (
        max(0, int(math.floor(x1))),
        max(0, int(math.floor(y1))),
        min(width, int(math.ceil(x2))),
        min(height, int(math.ceil(y2))),
    )


def grow_box(box: np.ndarray, scale: float) -> np.ndarray:
    """A box grown about its centre to ``scale`` times its width and height."""
    x1, y1, x2, y2 = box[:4]
    dx, dy = (x2 - x1) * (scale - 1) / 2, (y2 - y1) * (scale - 1) / 2
    return np.array([x1 - dx, y1 - dy, x2 + dx, y2 + dy])


def bottom_center(boxes: np.ndarray) -> np.ndarray:
    """(N, 2) anchor points: the middle of each box's bottom edge (where the wheels touch the
    road)."""
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 3]], axis=1)


def pad_box(box: np.ndarray, margin: float) -> np.ndarray:
    """A box with ``margin`` of its width (height) added on the left and right (top and bottom)."""
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array(
        [box[0] - margin * w, box[1] - margin * h, box[2] + margin * w, box[3] + margin * h]
    )
