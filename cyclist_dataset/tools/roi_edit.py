"""What the ROI editor does with a camera's polygons, apart from the web: read what its file holds
(scaled to the frame shown), check drawn polygons (every problem at once, and the filter's verdict
on the frame's boxes), and save them as a validated file, atomically."""

from __future__ import annotations

import json
from pathlib import Path

from cyclist_dataset.core.config import FilterConfig, PipelineConfig
from cyclist_dataset.core.roi import Roi, parse_roi, roi_problems
from cyclist_dataset.errors import RoiError, UserError
from cyclist_dataset.io.atomic import write_text
from cyclist_dataset.stages.filter import drop_reasons
from cyclist_dataset.tools.frames import CameraFrame

KINDS = ("include", "exclude")


def content(drawn: dict, width: int, height: int) -> dict:
    """An ROI file's content from what the editor sent (``include``/``exclude`` polygons of
    [x, y] points in the pixels of a ``width`` x ``height`` frame, and a ``description``)."""
    made: dict = {"image_width": width, "image_height": height}
    for kind in KINDS:
        polygons = drawn.get(kind, [])
        if not isinstance(polygons, list):
            raise UserError(f"`{kind}` must be a list of polygons")
        made[kind] = polygons
    description = drawn.get("description")
    if description:
        made["description"] = str(description)
    return made


def existing(config: PipelineConfig, camera: str, width: int, height: int) -> dict:
    """The camera's file as the editor starts from: its polygons scaled to the frame shown, its
    description, and what is wrong with it (``problem``; a missing file is no problem)."""
    path = config.roi_path(camera)
    start: dict = {"include": [], "exclude": [], "description": "", "problem": None}
    if not path.is_file():
        return start
    problem: str | None = None
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        parse_roi(raw, path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        return {**start, "problem": f"{path}: not valid JSON ({exc}); drawing anew replaces it"}
    except RoiError as exc:
        problem = str(exc)
    if not isinstance(raw, dict):
        return {**start, "problem": problem}
    drawn_width, drawn_height = raw.get("image_width"), raw.get("image_height")
    sx = sy = 1.0  # a file without a valid size: its points as they are
    if isinstance(drawn_width, int) and isinstance(drawn_height, int):
        if drawn_width > 0 and drawn_height > 0:
            sx, sy = width / drawn_width, height / drawn_height
    for kind in KINDS:
        try:
            start[kind] = [
                [[round(x * sx, 1), round(y * sy, 1)] for x, y in polygon]
                for polygon in raw.get(kind, [])
            ]
        except (TypeError, ValueError):
            start[kind] = []
    start["description"] = str(raw.get("description", ""))
    start["problem"] = problem
    return start


def check(frame: CameraFrame, drawn: dict, filter_config: FilterConfig) -> dict:
    """Every problem of the drawn polygons, and per box of the frame the filter's verdict with
    them (``roi_checked`` False: the polygons are not valid yet, the ROI rule was not applied)."""
    made = content(drawn, frame.width, frame.height)
    problems = roi_problems(made, "the drawing")
    roi: Roi | None = None
    if not problems:
        roi = parse_roi(made, "the drawing")
    whole = Roi.whole_frame(frame.width, frame.height)
    reasons = drop_reasons(frame.detections, roi or whole, filter_config)
    anchors = frame.detections.bottom_center
    boxes = [
        {
            "xyxy": [round(float(v), 1) for v in box],
            "class_name": str(name),
            "score": round(float(score), 3),
            "reason": reason,
            "anchor": [round(float(v), 1) for v in anchor],
        }
        for box, name, score, reason, anchor in zip(
            frame.detections.xyxy,
            frame.detections.class_name,
            frame.detections.score,
            reasons,
            anchors,
            strict=True,
        )
    ]
    share = None if roi is None else float(roi.area.area / (frame.width * frame.height))
    return {
        "problems": problems,
        "boxes": boxes,
        "roi_checked": roi is not None,
        "share": share,
    }


def save(config: PipelineConfig, camera: str, drawn: dict, width: int, height: int) -> Path:
    """Write the camera's ROI file from the drawn polygons, validated exactly as the pipeline reads
    it; nothing is written when it is not valid (RoiError says why)."""
    path = config.roi_path(camera)
    made = content(drawn, width, height)
    parse_roi(made, path)
    for kind in KINDS:  # valid, so number pairs: stored as numbers whatever JSON types came
        made[kind] = [[[round(float(x), 1), round(float(y), 1)] for x, y in p] for p in made[kind]]
    write_text(path, json.dumps(made, indent=2) + "\n")
    return path
