"""The privacy audit: can a face detector still find a face in what we store, at any scale?

``Auditor.check_many`` runs face detectors (CenterFace and YuNet by default) over images at a
sensitive operating point and returns, per image, the highest face score relative to its
detector's threshold (>= 1: a face was found, the image fails) and the view that found it. The
crop stage runs it on every crop in memory, before the crop is written; ``tools.privacy_audit``
runs it over every image file a workspace holds.

**Views.** A detector's verdict depends on the size at which it sees a face: both find almost
every face seen 20 to 64 px tall, and few below 12 px (table below). An image is therefore looked
at several times, each a *view*: a region (the whole crop, or its head region, the top
``head_fraction``) resized by a scale, with bilinear and with bicubic resampling (bicubic
overshoot sharpens what a blur left of eyes and glasses; a scale of 1 needs no resampling).
For each detector and region the scales form a ladder: the first rung shows the smallest face
searched for (``face_min_px`` in the head region; ``crop_min_face_fraction`` of the crop's height
elsewhere) at the detector's reliable minimum, each next rung shows the largest face the previous
one saw reliably at that minimum again, until ``face_max_px`` (or the region) is covered. A
detector's views are capped in pixels (``max_view_px``: CenterFace costs 9x YuNet per pixel), so
on large crops YuNet, not CenterFace, carries the smallest faces.

Measured on 90 real faces (intel clip and multicam footage, unblurred crops rescaled so the face
is the given height; share found at the audit thresholds, bilinear; bicubic within 4 points):

| face height, px | 10 | 12 | 16 | 20 | 24 | 32-64 | 96 | 128 | 200 |
|---|---|---|---|---|---|---|---|---|---|
| CenterFace >= 0.4 | 14% | 44% | 83% | 97% | 100% | 100% | 100% | 100% | 100% |
| YuNet >= 0.65 | 1% | 18% | 77% | 93% | 98% | 97-100% | 88% | 61% | 19% |

Each view is padded (zeros, bottom and right) to multiples of 32 on its own, and views of the same
padded size, from any images, run as one batch: an image's verdict does not depend on which other
images were audited with it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from cyclist_dataset.core.config import AuditConfig
from cyclist_dataset.io.hashing import fingerprint
from cyclist_dataset.stages.anonymize.faces import (
    EMPTY,
    STRIDE,
    FaceDetector,
    detector_identity,
    make_face_detector,
)

# Detections below this are not even reported (the audit's floor, far below any threshold).
REPORT_FLOOR = 0.05
# What a verdict means: bump when the views or the decoding change, so that verdicts made by an
# older audit are stale (the release gate then asks for a rerun of the anonymize stage).
AUDIT_VERSION = 2
INTERPOLATIONS = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC}
# One batch of views holds at most this many pixels (about 17 MB of float32 input).
BATCH_PIXELS = 1_500_000


@dataclass(frozen=True)
class DetectorRange:
    """Face heights a detector finds reliably (table in the module docstring), the regions it
    searches and the largest view it is given (its cost: CenterFace runs at about 2.4 Mpx/s on one
    core, YuNet at 20)."""

    seen_px: tuple[float, float]
    regions: tuple[str, ...]
    max_view_px: int


DETECTOR_RANGES = {
    # >= 97% from 20 px; rungs 5x apart, so a face is seen at most 100 px tall (CenterFace still
    # finds all faces above, but scores them lower). At 9x YuNet's cost per pixel it looks where a
    # rider's own face is, the head region, and is given at most 24,000 px a view (the head region
    # of a 386 px crop at 1x): the whole crop is YuNet's.
    "centerface": DetectorRange((20, 100), ("head",), 24_000),
    # >= 93% from 20 px, falling off above 64 px (88% at 96 px).
    "yunet": DetectorRange((20, 40), ("head", "crop"), 200_000),
}
# A ladder stops when it covers all but this share of the largest face (192 of 200 px), rather than
# add a rung for the last few pixels.
LADDER_SLACK = 0.05
# A scale this close to 1 is taken as 1: the stored pixels themselves, one view instead of two.
SNAP_TO_NATIVE = 0.1


@dataclass(frozen=True)
class View:
    region: str  # "crop" | "head"
    scale: float
    interpolation: str  # "bilinear" | "bicubic" | "none" (scale 1)

    def describe(self) -> str:
        how = "" if self.interpolation == "none" else f" {self.interpolation}"
        return f"{self.region} x{self.scale:.2f}{how}"


@dataclass(frozen=True)
class Finding:
    """The highest-scoring face of an image: which detector found it, in which view."""

    detector: str
    view: View
    score: float  # the detector's raw score
    threshold: float

    def describe(self) -> str:
        return f"{self.detector} {self.score:.2f}/{self.threshold:.2f} {self.view.describe()}"


@dataclass(frozen=True)
class AuditResult:
    score: float  # highest face score / its detector's threshold; >= 1 fails
    scores: dict[str, float]  # per detector: its highest raw face score (0: none above the floor)
    # (N, 5) boxes at or above their detector's threshold (times ``flag_from`` of the check)
    faces: np.ndarray = field(repr=False)
    worst: Finding | None = None  # the face behind `score` (None: no face above the floor)

    @property
    def passed(self) -> bool:
        return self.score < 1.0


def scale_ladder(
    smallest: float, largest: float, seen: tuple[float, float], max_scale: float
) -> list[float]:
    """Scales at which faces from ``smallest`` to ``largest`` px are seen within ``seen`` px: the
    first shows ``smallest`` at ``seen[0]``, each next one shows the previous one's largest reliable
    face at ``seen[0]`` again. A first scale above ``max_scale`` (the detector's pixel budget) falls
    back to 1, the stored pixels in one view (or to ``max_scale`` when even that is over)."""
    low, high = seen
    scale = low / smallest
    if scale > max_scale:  # over budget: no upscaling (one view of the stored pixels), or less
        scale = min(1.0, max_scale)
    scales = [scale]
    while high / scale < (1 - LADDER_SLACK) * largest:
        scale *= low / high
        scales.append(scale)
    return [round(s, 4) for s in scales]


def views_for(height: int, width: int, detector: str, config: AuditConfig) -> list[View]:
    """The views one detector gets of an image ``height`` x ``width``."""
    spec = DETECTOR_RANGES[detector]
    head = head_height(height, config)
    crop_smallest = max(config.face_min_px, config.crop_min_face_fraction * height)
    # Where the whole crop is searched, the head region only needs the faces too small for that.
    head_largest = crop_smallest if "crop" in spec.regions else config.face_max_px
    searched = {
        "head": (config.face_min_px, min(head_largest, head)),
        "crop": (crop_smallest, min(config.face_max_px, height)),
    }
    views = []
    for region in spec.regions:
        smallest, largest = searched[region]
        region_height = head if region == "head" else height
        if region_height < 4:
            continue
        largest = max(largest, smallest)  # a region lower than the smallest face: one rung
        max_scale = math.sqrt(spec.max_view_px / (region_height * width))
        for scale in scale_ladder(smallest, largest, spec.seen_px, max_scale):
            if abs(scale - 1.0) <= SNAP_TO_NATIVE:
                views.append(View(region, 1.0, "none"))
            else:
                views += [View(region, scale, name) for name in INTERPOLATIONS]
    return views


def head_height(height: int, config: AuditConfig) -> int:
    return max(1, math.ceil(config.head_fraction * height))


def render(image: np.ndarray, view: View, config: AuditConfig) -> np.ndarray:
    """The view's pixels, unpadded."""
    region = image[: head_height(image.shape[0], config)] if view.region == "head" else image
    if view.interpolation == "none":
        return region
    height, width = region.shape[:2]
    size = (max(1, round(width * view.scale)), max(1, round(height * view.scale)))
    return cv2.resize(region, size, interpolation=INTERPOLATIONS[view.interpolation])


def _padded_shape(height: int, width: int) -> tuple[int, int]:
    return max(STRIDE, -(-height // STRIDE) * STRIDE), max(STRIDE, -(-width // STRIDE) * STRIDE)


def audit_identity(config: AuditConfig) -> dict:
    """What a verdict means: detectors (model SHA-256), thresholds and views (no model loaded)."""
    return {
        "version": AUDIT_VERSION,
        "detectors": [detector_identity(name) for name in config.detectors],
        "thresholds": {name: config.threshold(name) for name in config.detectors},
        "views": {
            "face_px": [config.face_min_px, config.face_max_px],
            "head_fraction": config.head_fraction,
            "crop_min_face_fraction": config.crop_min_face_fraction,
            "interpolations": sorted(INTERPOLATIONS),
            "snap_to_native": SNAP_TO_NATIVE,
            "ladder_slack": LADDER_SLACK,
            "detector_ranges": {
                name: {
                    "seen_px": list(r.seen_px),
                    "regions": list(r.regions),
                    "max_view_px": r.max_view_px,
                }
                for name, r in sorted(DETECTOR_RANGES.items())
                if name in config.detectors
            },
        },
    }


def definition_id(config: AuditConfig) -> str:
    """A short hash of ``audit_identity``: verdicts compare only under the same definition."""
    return fingerprint(audit_identity(config))[:16]


def falls_short(recorded: dict | None, reference: dict) -> str | None:
    """Why a verdict recorded under the audit ``recorded`` (an ``audit_identity``, or None: not
    audited) is no verdict under ``reference``, or None when ``recorded`` is at least as strict:
    the same views or more, the same detectors or more, thresholds as low or lower."""
    if not recorded:
        return "not audited"
    if recorded.get("version") != reference["version"]:
        return f"audited by an older audit (version {recorded.get('version', 1)})"
    thresholds = recorded.get("thresholds", {})
    for name, identity in zip(reference["thresholds"], reference["detectors"], strict=True):
        if identity not in recorded.get("detectors", []):
            return f"audited without {identity}"
        if thresholds[name] > reference["thresholds"][name]:
            return f"audited with a looser {name} threshold ({thresholds[name]})"
    views, wanted = recorded["views"], reference["views"]
    ranges = views["detector_ranges"]
    if (
        views["face_px"][0] > wanted["face_px"][0]
        or views["face_px"][1] < wanted["face_px"][1]
        or views["head_fraction"] < wanted["head_fraction"]
        or views["crop_min_face_fraction"] > wanted["crop_min_face_fraction"]
        or not set(wanted["interpolations"]) <= set(views["interpolations"])
        or views["snap_to_native"] > wanted["snap_to_native"]
        or views["ladder_slack"] > wanted["ladder_slack"]
        or any(ranges.get(name) != spec for name, spec in wanted["detector_ranges"].items())
    ):
        return "audited with fewer views"
    return None


class Auditor:
    """Face detectors at the audit's thresholds; thread-safe (share one per process)."""

    def __init__(self, config: AuditConfig = AuditConfig()) -> None:
        self.config = config
        self.detectors: list[FaceDetector] = [make_face_detector(name) for name in config.detectors]
        self.thresholds = {name: config.threshold(name) for name in config.detectors}

    @property
    def identity(self) -> dict:
        return audit_identity(self.config)

    @property
    def definition_id(self) -> str:
        return definition_id(self.config)

    def check(self, image: np.ndarray, flag_from: float = 1.0) -> AuditResult:
        return self.check_many([image], flag_from)[0]

    def check_many(self, images: Sequence[np.ndarray], flag_from: float = 1.0) -> list[AuditResult]:
        """One verdict per image; views of equal padded size run as one batch per detector.
        ``faces`` holds the boxes scoring at least ``flag_from`` of their threshold."""
        # (detector, padded shape) -> [(image index, view, pixels)]
        groups: dict[tuple[int, tuple[int, int]], list[tuple[int, View, np.ndarray]]] = defaultdict(
            list
        )
        for index, image in enumerate(images):
            height, width = image.shape[:2]
            rendered: dict[View, np.ndarray] = {}
            for d, detector in enumerate(self.detectors):
                for view in views_for(height, width, detector.name, self.config):
                    if view not in rendered:
                        rendered[view] = render(image, view, self.config)
                    pixels = rendered[view]
                    groups[(d, _padded_shape(*pixels.shape[:2]))].append((index, view, pixels))
        found: list[list[tuple[str, View, np.ndarray]]] = [[] for _ in images]
        for (d, shape), members in sorted(groups.items(), key=lambda item: item[0]):
            detector = self.detectors[d]
            per_batch = max(1, BATCH_PIXELS // (shape[0] * shape[1]))
            for start in range(0, len(members), per_batch):
                chunk = members[start : start + per_batch]
                batch = np.zeros((len(chunk), *shape, 3), np.uint8)
                for i, (_, _, pixels) in enumerate(chunk):
                    batch[i, : pixels.shape[0], : pixels.shape[1]] = pixels
                for (index, view, pixels), boxes in zip(
                    chunk, detector.run(batch, REPORT_FLOOR), strict=True
                ):
                    boxes = _to_image(boxes, pixels.shape[:2], view, images[index], self.config)
                    if len(boxes):
                        found[index].append((detector.name, view, boxes))
        return [self._verdict(per_image, flag_from) for per_image in found]

    def _verdict(self, found: list[tuple[str, View, np.ndarray]], flag_from: float) -> AuditResult:
        scores = {name: 0.0 for name in self.thresholds}
        relative, worst, faces = 0.0, None, []
        # Deterministic order: detector, then view; ties keep the first.
        for name, view, boxes in sorted(found, key=lambda f: (f[0], f[1].region, f[1].scale)):
            threshold = self.thresholds[name]
            best = float(boxes[:, 4].max())
            scores[name] = max(scores[name], best)
            if best / threshold > relative:
                relative, worst = best / threshold, Finding(name, view, best, threshold)
            faces.append(boxes[boxes[:, 4] >= flag_from * threshold])
        boxes = np.concatenate(faces) if faces else EMPTY
        boxes = boxes[np.argsort(-boxes[:, 4], kind="stable")]
        return AuditResult(score=relative, scores=scores, faces=boxes, worst=worst)


def _to_image(
    boxes: np.ndarray, shape: tuple[int, int], view: View, image: np.ndarray, config: AuditConfig
) -> np.ndarray:
    """A view's boxes in the image's pixels; boxes centred in the padding are dropped."""
    if len(boxes) == 0:
        return EMPTY
    height, width = shape
    centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    boxes = boxes[(centre_x < width) & (centre_y < height)].copy()
    if len(boxes) == 0:
        return EMPTY
    region_height = head_height(image.shape[0], config) if view.region == "head" else image.shape[0]
    boxes[:, [0, 2]] = np.clip(boxes[:, [0, 2]], 0, width) * (image.shape[1] / width)
    boxes[:, [1, 3]] = np.clip(boxes[:, [1, 3]], 0, height) * (region_height / height)
    return boxes
