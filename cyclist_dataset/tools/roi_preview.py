"""ROI previews: a camera's polygons and one frame's boxes, coloured by the filter's verdict."""

from __future__ import annotations

import cv2
import numpy as np
import shapely

from cyclist_dataset.core.config import PipelineConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.roi import Roi, load_roi
from cyclist_dataset.tools.frames import (
    FrameModels,
    camera_frame,
    frame_anonymizer,
    seal,
    shown_frame,
)

KEPT = (0, 200, 0)  # BGR
DROPPED = (0, 0, 230)
INCLUDE = (0, 255, 255)
EXCLUDE = (255, 0, 255)


def _rings(area: shapely.Geometry) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Outer rings (included area) and holes (excluded) of the ROI as pixel polylines."""
    polygons = list(getattr(area, "geoms", [area]))
    outer = [np.asarray(p.exterior.coords, np.int32) for p in polygons if not p.is_empty]
    holes = [
        np.asarray(r.coords, np.int32) for p in polygons if not p.is_empty for r in p.interiors
    ]
    return outer, holes


def draw_preview(
    image: np.ndarray, roi: Roi, detections: Detections, reasons: np.ndarray
) -> np.ndarray:
    """The frame with the ROI (yellow; holes magenta, area tinted) and each box with its anchor
    point: green if kept, red with the rule that dropped it."""
    canvas = image.copy()
    outer, holes = _rings(roi.area)
    tint = canvas.copy()
    cv2.fillPoly(tint, outer, INCLUDE)
    if holes:
        cv2.fillPoly(tint, holes, (0, 0, 0))
    canvas = cv2.addWeighted(tint, 0.15, canvas, 0.85, 0)
    cv2.polylines(canvas, outer, True, INCLUDE, 2)
    cv2.polylines(canvas, holes, True, EXCLUDE, 2)
    for box, score, name, reason, anchor in zip(
        detections.xyxy,
        detections.score,
        detections.class_name,
        reasons,
        detections.bottom_center,
        strict=True,
    ):
        colour = KEPT if reason is None else DROPPED
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, 2)
        cv2.circle(canvas, (int(round(anchor[0])), int(round(anchor[1]))), 4, colour, -1)
        label = f"{name} {score:.2f}" + ("" if reason is None else f" [{reason}]")
        cv2.putText(
            canvas,
            label,
            (x1, max(12, y1 - 4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.45,
            colour,
            1,
            cv2.LINE_AA,
        )
    return canvas


def preview_frame(
    config: PipelineConfig,
    camera: str,
    video_id: str | None,
    frame_index: int,
    raw: bool = False,
    image_format: str = "png",
    models: FrameModels | None = None,
) -> tuple[bytes, Detections, np.ndarray]:
    """One real frame of a camera with the ROI and the pipeline's boxes drawn, encoded as
    ``image_format``, and per box the filter's verdict. Every detected person is blurred and the
    drawn frame is sealed (audited as written); ``raw``: the recorded frame, for an explicit
    request only. ``models``: loaded ``frame_models`` to reuse (the run report, per camera)."""
    frame = camera_frame(config, camera, video_id, frame_index, models)
    if frame.roi is None:
        load_roi(config.roi_path(camera))  # raises the file's problem
    assert frame.roi is not None
    # the loaded models' anonymizer seals JPEG; another format needs its own
    if models is not None and models.anonymizer.extension == image_format:
        anonymizer = models.anonymizer
    else:
        anonymizer = frame_anonymizer(config.anonymize, image_format)
    image = frame.image if raw else shown_frame(frame, config, models)
    drawn = draw_preview(image, frame.roi, frame.detections, frame.reasons)
    if raw:
        data = anonymizer.encode(drawn)
    else:
        data = seal(drawn, anonymizer, f"frame {frame_index} of {frame.video_id}")
    return data, frame.detections, frame.reasons
