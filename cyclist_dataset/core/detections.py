"""The one detection type that flows between detector, filter and tracker (after supervision's
``Detections``): boxes, scores and class names, plus a ``data`` mapping of extra per-box arrays
(paired bicycle, frame index, timestamp, low-score flag, track id). Inside a stage code works on
``Detections``; Arrow tables are only read and written at stage boundaries (``from_table`` /
``columns``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa

from cyclist_dataset.core.geometry import BOX_COLUMNS, bottom_center


@dataclass(frozen=True)
class Detections:
    xyxy: np.ndarray  # (N, 4) pixels of the original frame
    score: np.ndarray  # (N,)
    class_name: np.ndarray  # (N,) str (object array)
    data: Mapping[str, np.ndarray] = field(default_factory=dict)  # extra (N, ...) arrays by name

    def __post_init__(self) -> None:
        n = len(self.xyxy)
        if np.ndim(self.xyxy) != 2 or np.shape(self.xyxy)[1] != 4:
            raise ValueError(f"xyxy must have shape (N, 4), got {np.shape(self.xyxy)}")
        for name, values in {
            "score": self.score,
            "class_name": self.class_name,
            **self.data,
        }.items():
            if len(values) != n:
                raise ValueError(f"Detections.{name} has {len(values)} entries for {n} boxes")

    @classmethod
    def empty(cls) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, dtype=object))

    @classmethod
    def from_table(cls, table: pa.Table, data: Iterable[str] = ()) -> Detections:
        """The boxes of a stage table (columns ``x1..y2``, ``score``, ``class_name``), with the
        named columns in ``data``. Missing ``score``/``class_name`` columns become NaN / None."""
        n = table.num_rows
        xyxy = np.stack([table.column(c).to_numpy() for c in BOX_COLUMNS], axis=1).reshape(-1, 4)
        score = (
            table.column("score").to_numpy()
            if "score" in table.column_names
            else np.full(n, np.nan)
        )
        names = (
            np.asarray(table.column("class_name").to_pylist(), dtype=object)
            if "class_name" in table.column_names
            else np.full(n, None, dtype=object)
        )
        extra = {name: table.column(name).to_numpy(zero_copy_only=False) for name in data}
        return cls(xyxy, score, names, extra)

    def columns(self) -> dict[str, Any]:
        """Table columns: the box, score, class name and every ``data`` array."""
        return {
            **{c: self.xyxy[:, k] for k, c in enumerate(BOX_COLUMNS)},
            "score": self.score,
            "class_name": self.class_name,
            **self.data,
        }

    def __len__(self) -> int:
        return len(self.xyxy)

    def __getitem__(self, index: np.ndarray | slice | list[int]) -> Detections:
        """A subset by boolean mask, index array or slice (every ``data`` array follows)."""
        return Detections(
            self.xyxy[index],
            self.score[index],
            self.class_name[index],
            {name: values[index] for name, values in self.data.items()},
        )

    def with_data(self, **arrays: np.ndarray) -> Detections:
        return Detections(self.xyxy, self.score, self.class_name, {**self.data, **arrays})

    @property
    def width(self) -> np.ndarray:
        return self.xyxy[:, 2] - self.xyxy[:, 0]

    @property
    def height(self) -> np.ndarray:
        return self.xyxy[:, 3] - self.xyxy[:, 1]

    @property
    def bottom_center(self) -> np.ndarray:
        """(N, 2) anchor points: the middle of each box's bottom edge (where the wheels touch the
        road)."""
        return bottom_center(self.xyxy)
