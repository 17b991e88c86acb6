"""Regions of interest: where on a camera's image a cyclist's wheels may touch the road.

File format (``roi_definitions/<location>/<camera>.json``)::

    {"image_width": 800, "image_height": 600,          # the frame size the polygons were drawn on
     "include": [[[x, y], [x, y], [x, y], ...], ...],   # one or more polygons, pixel coordinates
     "exclude": [[[x, y], ...], ...],                   # optional holes (a bus stop, a sidewalk)
     "description": "free text"}

A point on a polygon's boundary counts as inside.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import Polygon
from shapely.validation import explain_validity

from cyclist_dataset.errors import RoiError


@dataclass(frozen=True)
class Roi:
    area: shapely.Geometry  # include polygons minus exclude polygons
    image_width: int
    image_height: int

    def contains(self, points: np.ndarray) -> np.ndarray:
        """(N,) bool for (N, 2) points; boundary points are inside."""
        if len(points) == 0:
            return np.zeros(0, dtype=bool)
        return shapely.intersects_xy(self.area, points[:, 0], points[:, 1])

    @classmethod
    def whole_frame(cls, width: int, height: int) -> Roi:
        """The ROI of a camera without one: every point of the frame."""
        return cls(shapely.box(0, 0, width, height), width, height)

    def scaled_to(self, width: int, height: int, source: str = "ROI") -> Roi:
        """The same region on a frame of another size (a camera re-configured to a new
        resolution)."""
        if (width, height) == (self.image_width, self.image_height):
            return self
        sx, sy = width / self.image_width, height / self.image_height
        if abs(sx - sy) > 0.01 * max(sx, sy):
            warnings.warn(
                f"{source}: drawn on {self.image_width}x{self.image_height}, "
                f"video is {width}x{height}; "
                "aspect ratios differ, the polygon is stretched",
                stacklevel=2,
            )
        area = affinity.scale(self.area, xfact=sx, yfact=sy, origin=(0, 0))
        return Roi(area, width, height)


def _polygon(points: object, where: str, width: int, height: int) -> Polygon:
    """One polygon of a file, validated; ``where`` names it in the error."""
    try:
        coords = np.asarray(points, dtype=float)
    except (TypeError, ValueError):
        raise RoiError(f"{where}: points must be [x, y] number pairs") from None
    if coords.ndim != 2 or coords.shape[1] != 2:
        raise RoiError(f"{where}: points must be [x, y] number pairs")
    if len(coords) < 3:
        raise RoiError(f"{where}: a polygon needs at least 3 points, got {len(coords)}")
    if not np.isfinite(coords).all():
        j = int(np.argmax(~np.isfinite(coords).all(axis=1)))
        raise RoiError(f"{where}: point {j} {coords[j].tolist()} is not a finite number pair")
    outside = (
        (coords[:, 0] < 0) | (coords[:, 0] > width) | (coords[:, 1] < 0) | (coords[:, 1] > height)
    )
    if outside.any():
        j = int(np.argmax(outside))
        raise RoiError(
            f"{where}: point {j} {coords[j].tolist()} lies outside the {width}x{height} image"
        )
    polygon = Polygon(coords)
    if not polygon.is_valid:
        raise RoiError(
            f"{where}: not a simple polygon ({explain_validity(polygon)}); "
            "reorder the points so its edges do not cross"
        )
    return polygon


def _polygons(raw: object, key: str, source: object, width: int, height: int) -> list[Polygon]:
    if not isinstance(raw, list):
        raise RoiError(
            f"{source}: `{key}` must be a list of polygons, each a list of [x, y] points"
        )
    return [
        _polygon(points, f"{source}: {key}[{i}]", width, height) for i, points in enumerate(raw)
    ]


def _frame_size(raw: dict, source: object) -> tuple[int, int]:
    width, height = raw.get("image_width"), raw.get("image_height")
    if not (isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0):
        raise RoiError(
            f"{source}: `image_width` and `image_height` must be positive integers (the frame "
            "size the polygons were drawn on)"
        )
    return width, height


def parse_roi(raw: object, source: object) -> Roi:
    """An ROI from its file's content (parsed JSON); every problem is a RoiError naming
    ``source`` (the file) and the polygon."""
    if not isinstance(raw, dict):
        raise RoiError(
            f"{source}: expected a JSON object with image_width, image_height and include"
        )
    width, height = _frame_size(raw, source)
    include = _polygons(raw.get("include"), "include", source, width, height)
    if not include:
        raise RoiError(f"{source}: `include` needs at least one polygon")
    exclude = _polygons(raw.get("exclude", []), "exclude", source, width, height)
    area = shapely.union_all(include)
    if exclude:
        area = area.difference(shapely.union_all(exclude))
    shapely.prepare(area)
    return Roi(area, width, height)


def roi_problems(raw: dict, source: object) -> list[str]:
    """Every problem of an ROI's content at once (each polygon checked on its own), for an
    editor that shows them while the polygons are drawn; empty: ``parse_roi`` accepts it."""
    problems: list[str] = []
    try:
        width, height = _frame_size(raw, source)
    except RoiError as exc:
        return [str(exc)]
    for key in ("include", "exclude"):
        polygons = raw.get(key, [])
        if not isinstance(polygons, list):
            problems.append(f"{source}: `{key}` must be a list of polygons")
            continue
        for i, points in enumerate(polygons):
            try:
                _polygon(points, f"{key}[{i}]", width, height)
            except RoiError as exc:
                problems.append(str(exc))
    if not problems:
        try:
            parse_roi(raw, source)
        except RoiError as exc:
            problems.append(str(exc))
    return problems


def load_roi(path: Path) -> Roi:
    """Read and validate an ROI file; every problem is a RoiError naming the file and the
    polygon."""
    try:
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RoiError(
            f"ROI file not found: {path} (draw the road area of that camera as described in "
            "roi_definitions/README.md)"
        ) from None
    except json.JSONDecodeError as exc:
        raise RoiError(f"{path}: not valid JSON: {exc}") from None
    return parse_roi(raw, path)
