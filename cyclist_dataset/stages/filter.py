"""Filter stage: which detected boxes may become part of a cyclist tracklet, and why the others may
not.

Rules, in order; a dropped box records the first rule it fails:
``class`` (not a rider class), ``score``, ``aspect_ratio`` (w/h, partial cyclists are wide; not
for imported `cyclist` boxes, which hold the bicycle too),
``width`` (too small to be useful), ``roi`` (bottom-centre of the unclipped box outside the ROI).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import FilterConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.roi import Roi

DROP_REASONS = ("class", "score", "aspect_ratio", "width", "roi")


def drop_reasons(detections: Detections, roi: Roi, config: FilterConfig) -> np.ndarray:
    """(N,) object array: None where a box is kept, else the first rule it fails."""
    width, height = detections.width, detections.height
    failed = {
        "class": ~np.isin(detections.class_name, config.classes),
        "score": detections.score < config.score_min,
        # A rider's box wider than max_aspect_ratio x its height is a partial or merged rider; a
        # `cyclist` box (rider and bicycle in one, imported) is that wide by nature (side on,
        # w/h about 1-1.5), so the rule is not its.
        "aspect_ratio": (width > config.max_aspect_ratio * height)
        & (detections.class_name != "cyclist"),
        "width": width < config.min_width_px,
        "roi": ~roi.contains(detections.bottom_center),
    }
    reasons = np.full(len(detections), None, dtype=object)
    for reason in reversed(DROP_REASONS):  # later rules are overwritten by earlier ones
        reasons[failed[reason]] = reason
    return reasons


def filter_detections(raw: pa.Table, roi: Roi, config: FilterConfig) -> tuple[pa.Table, dict]:
    """The raw detections of one video with a `kept` flag and a `drop_reason` per box, and how many
    boxes each rule dropped (for the dataset report)."""
    reasons = drop_reasons(Detections.from_table(raw), roi, config)
    table = schemas.table(
        schemas.DETECTIONS,
        {
            **{name: raw.column(name) for name in schemas.RAW_DETECTIONS.names},
            "kept": [r is None for r in reasons],
            "drop_reason": reasons.tolist(),
        },
    )
    dropped = {reason: int(np.sum(reasons == reason)) for reason in DROP_REASONS}
    return table, {"kept": len(reasons) - sum(dropped.values()), "dropped": dropped}
