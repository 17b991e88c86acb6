"""The one detection type that flows between detector, filter and tracker (after supervision's Detections)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Detections:
    xyxy: np.ndarray  # (N, 4) float32, pixels of the original frame
    score: np.ndarray  # (N,) float32
    class_name: np.ndarray  # (N,) str

    @classmethod
    def empty(cls) -> "Detections":
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, dtype=object))

    def __len__(self) -> int:
        return len(self.score)

    @property
    def width(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def height(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    @property
    def bottom_center(self) -> np.ndarray:
        """(N, 2) anchor points: the middle of each box's bottom edge (where the wheels touch the road)."""
        return np.stack([(self.xyxy[:, 0] + self.xyxy[:, 2]) / 2, self.xyxy[:, 3]], axis=1)
