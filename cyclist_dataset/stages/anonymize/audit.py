"""The privacy audit: can a face detector still find a face in what we store, at any scale?

``Auditor.check_many`` runs face detectors (CenterFace and YuNet by default) over images at a
sensitive operating point and returns, per image, the highest face score relative to its
detector's threshold (>= 1: a face was found, the image fails) and the view that found it. The
crop stage runs it on every crop in memory, before the crop is written, and writes a crop only
when every detector stays below its *rescaling margin* (below); ``tools.privacy_audit`` runs it
over every image file a workspace holds.

**Views.** A detector's verdict depends on the size at which it sees a face (table below), so an
image is looked at several times, each a *view*: a region (the whole crop, or its head region, the
top ``head_fraction``) resized by a scale, with bilinear and with bicubic resampling (bicubic
overshoot sharpens what a blur left of eyes and glasses; a scale of 1 needs no resampling).

- **YuNet** carries the guarantee in stored pixels. Its scales form a ladder per region: the first
  rung shows the smallest face searched for (``face_min_px`` in the head region,
  ``crop_min_face_fraction`` of the crop's height in the whole crop) 20 px tall, each next rung
  shows the largest face the previous one saw at 40 px at 20 px again, until ``face_max_px`` (or
  the region) is covered. Every face of 12-200 px is so seen 20-40 px tall, where YuNet finds
  93-100% of real faces, as long as a view stays within YuNet's pixel budget (crops up to about
  1,100 px high); a larger region is seen at its stored size, and its smallest faces smaller.
- **CenterFace** costs 9x YuNet per pixel (2.4 against 20 Mpx/s on one core). It looks at the head
  region resized to 64 and 48 px high whatever the crop's size (the rider's face, about 0.4 of the
  region's height, is then seen about 27 and 20 px tall), its four views side by side in one
  input.

Measured on 90 real faces (intel clip and multicam footage, unblurred crops rescaled so the face
is the given height; share found at the audit thresholds, bilinear; bicubic within 4 points):

| face height, px | 10 | 12 | 16 | 20 | 24 | 32-64 | 96 | 128 | 200 |
|---|---|---|---|---|---|---|---|---|---|
| CenterFace >= 0.4 | 14% | 44% | 83% | 97% | 100% | 100% | 100% | 100% | 100% |
| YuNet >= 0.65 | 1% | 18% | 77% | 93% | 98% | 97-100% | 88% | 61% | 19% |

**Rescaling margin.** Both detectors' scores move with the exact pixels they see: a blurred crop
resized 0.5x-3x (bilinear or bicubic) and audited again scored up to 1.9x its own score. Measured
on 274 median-blurred crops (intel, multicam, Radeberg) x 10 resized copies: crops scoring below
0.7 of a threshold stayed below 0.83 (CenterFace) and 0.96 (YuNet) in every copy; from 0.7 up some
copies failed; every failing crop's copies failed too. The crop stage therefore escalates (blurs
the near faces again) until every detector is below 0.7 of its threshold, and refuses the crop
otherwise.

Each input is padded (zeros, bottom and right) to multiples of 32 on its own, and inputs of the
same padded size, from any images, run as one batch: an image's verdict does not depend on which
other images were audited with it.
"""

from __future__ import annotations

import dataclasses
import json
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
# Zero columns between the views of a mosaic.
MOSAIC_GAP = 8
# An escalation blurs every box scoring at least this share of the margin, not only those at it:
# the boxes just below it would otherwise surface in the next round.
NEAR_SHARE = 0.5


@dataclass(frozen=True)
class DetectorViews:
    """How one detector looks at an image: the regions it searches, and either a scale ladder in
    stored pixels (``seen_px``: the face heights it finds reliably; ``max_view_px``: its largest
    view) or views of fixed heights (``canonical_height_px``: the region resized to them whatever
    the crop's size, so a resized copy of a crop is seen as the crop)."""

    regions: tuple[str, ...]
    # A stored crop scores below this share of the threshold, so that resizing it 0.5x-3x (bilinear
    # or bicubic) cannot make it fail (module docstring, "Rescaling margin").
    margin: float
    seen_px: tuple[float, float] | None = None
    max_view_px: int = 0
    canonical_height_px: tuple[int, ...] = ()
    # Detectors run in this order (lower first): the one that flags most crops for less work first,
    # so a crop it flags is blurred again before the other looks (measured on the intel benchmark
    # crops: CenterFace flags 47% of median-blurred crops, YuNet 45%; CenterFace costs less).
    cost_rank: int = 0
    # Run all of an image's views as one mosaic: small views cost CenterFace 2x more per pixel
    # than one wider input (64x96: 1.4 Mpx/s; 64x320: 2.5 Mpx/s).
    mosaic: bool = False


DETECTOR_VIEWS = {
    # The head region at 64 and 48 px high (module docstring); its views in one mosaic.
    "centerface": DetectorViews(
        ("head",), margin=0.7, canonical_height_px=(64, 48), mosaic=True, cost_rank=0
    ),
    # The ladder in stored pixels, 20-40 px a rung; 400,000 px at most a view (about 20 ms; a 386
    # px crop's head region at 1.67x is 115,000), which only a crop taller than about 1,100 px
    # reaches: its smallest faces are then seen at their stored size. Run second: a crop
    # CenterFace already finds too close is blurred again before YuNet looks.
    "yunet": DetectorViews(
        ("head", "crop"), margin=0.7, seen_px=(20, 40), max_view_px=400_000, cost_rank=1
    ),
}
# A ladder stops when it covers all but this share of the largest face (192 of 200 px), rather than
# add a rung for the last few pixels.
LADDER_SLACK = 0.05
# A view's scale may shrink this much to fit the models' 32-pixel grid (saves up to a sixth of
# YuNet's pixels on the intel crops).
GRID_SLACK = 0.03
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
    faces: np.ndarray = field(repr=False)  # (N, 5) boxes at or above their detector's threshold
    worst: Finding | None = None  # the face behind `score` (None: no face above the floor)
    # The same against each detector's rescaling margin (margin x threshold): >= 1 is too close
    margin_score: float = 0.0
    near_faces: np.ndarray = field(default_factory=lambda: EMPTY, repr=False)  # >= the margin
    complete: bool = True  # every detector ran (see ``Auditor.check_many(stop_when_near=...)``)

    @property
    def passed(self) -> bool:
        return self.score < 1.0

    @property
    def clear(self) -> bool:
        """Below every detector's margin: safe to store (it passes at any scale, as measured)."""
        return self.complete and self.margin_score < 1.0


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
    spec = DETECTOR_VIEWS[detector]
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
        region_height = head if region == "head" else height
        if region_height < 4:
            continue
        if region == "head" and "crop" in spec.regions and crop_smallest <= config.face_min_px:
            continue  # the whole crop's views already look for every face size here
        area = region_height * width
        if spec.canonical_height_px:
            scales = [round(target / region_height, 4) for target in spec.canonical_height_px]
        else:
            assert spec.seen_px is not None
            smallest, largest = searched[region]
            largest = max(largest, smallest)  # a region lower than the smallest face: one rung
            max_scale = math.sqrt(spec.max_view_px / area)
            scales = scale_ladder(smallest, largest, spec.seen_px, max_scale)
        for scale in scales:
            if abs(scale - 1.0) <= SNAP_TO_NATIVE:
                views.append(View(region, 1.0, "none"))
            else:
                scale = _fit_to_grid(scale, region_height, width)
                views += [View(region, scale, name) for name in INTERPOLATIONS]
    return views


def _fit_to_grid(scale: float, height: int, width: int) -> float:
    """``scale``, or up to ``GRID_SLACK`` less where that makes the view's height or width a
    multiple of 32: the models pad every input to one, so those pixels come free."""
    fits = [
        fitted
        for side in (height, width)
        if (fitted := math.floor(side * scale / STRIDE) * STRIDE / side) >= (1 - GRID_SLACK) * scale
        and side * fitted >= STRIDE
    ]
    return round(max(fits, default=scale), 4)


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


def audit_identity(config: AuditConfig) -> dict:
    """What a verdict means: detectors (model SHA-256), thresholds and views (no model loaded); as
    JSON gives it back (lists, not tuples), so it compares equal to the copy a manifest holds."""
    identity = {
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
            "grid_slack": GRID_SLACK,
            "detector_views": {
                name: dataclasses.asdict(spec)
                for name, spec in sorted(DETECTOR_VIEWS.items())
                if name in config.detectors
            },
        },
    }
    return json.loads(json.dumps(identity))


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
    specs = views["detector_views"]
    if (
        views["face_px"][0] > wanted["face_px"][0]
        or views["face_px"][1] < wanted["face_px"][1]
        # CenterFace sees the head region at fixed heights: another fraction is another view
        or views["head_fraction"] != wanted["head_fraction"]
        or views["crop_min_face_fraction"] > wanted["crop_min_face_fraction"]
        or not set(wanted["interpolations"]) <= set(views["interpolations"])
        or views["snap_to_native"] > wanted["snap_to_native"]
        or views["ladder_slack"] > wanted["ladder_slack"]
        or views.get("grid_slack", 0) > wanted.get("grid_slack", 0)
        or any(specs.get(name) != spec for name, spec in wanted["detector_views"].items())
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

    def check(self, image: np.ndarray) -> AuditResult:
        return self.check_many([image])[0]

    def check_many(
        self, images: Sequence[np.ndarray], stop_when_near: bool = False
    ) -> list[AuditResult]:
        """One verdict per image. Detectors run in turn (``cost_rank``); sheets of equal padded
        size run as one batch. ``stop_when_near``: an image already within a detector's margin
        skips the remaining detectors (its result is then ``complete = False``: the crop stage
        blurs it again anyway, and audits it in full before it may be written)."""
        found: list[list[tuple[str, View, np.ndarray]]] = [[] for _ in images]
        active = list(range(len(images)))
        rendered: list[dict[View, np.ndarray]] = [{} for _ in images]
        for detector in sorted(self.detectors, key=lambda d: DETECTOR_VIEWS[d.name].cost_rank):
            groups: dict[tuple[int, int], list[tuple[int, _Sheet]]] = defaultdict(list)
            for index in active:
                for sheet in self._sheets(images[index], detector.name, rendered[index]):
                    groups[sheet.shape].append((index, sheet))
            for shape, members in sorted(groups.items()):
                self._run(detector, shape, members, images, found)
            if stop_when_near:
                active = [i for i in active if self._verdict(found[i]).clear]
        return [self._verdict(per_image, complete=i in active) for i, per_image in enumerate(found)]

    def _sheets(
        self, image: np.ndarray, detector: str, rendered: dict[View, np.ndarray]
    ) -> list[_Sheet]:
        views = views_for(image.shape[0], image.shape[1], detector, self.config)
        for view in views:
            if view not in rendered:  # the detectors share views
                rendered[view] = render(image, view, self.config)
        placed = [(view, rendered[view]) for view in views]
        if DETECTOR_VIEWS[detector].mosaic:
            return [_Sheet.row(placed)] if placed else []
        return [_Sheet.row([one]) for one in placed]

    def _run(
        self,
        detector: FaceDetector,
        shape: tuple[int, int],
        members: list[tuple[int, _Sheet]],
        images: Sequence[np.ndarray],
        found: list[list[tuple[str, View, np.ndarray]]],
    ) -> None:
        per_batch = max(1, BATCH_PIXELS // (shape[0] * shape[1]))
        for start in range(0, len(members), per_batch):
            chunk = members[start : start + per_batch]
            batch = np.zeros((len(chunk), *shape, 3), np.uint8)
            for i, (_, sheet) in enumerate(chunk):
                sheet.paint(batch[i])
            for (index, sheet), boxes in zip(chunk, detector.run(batch, REPORT_FLOOR), strict=True):
                for view, boxes_in_view in sheet.split(boxes):
                    boxes_in_image = _to_image(boxes_in_view, view, images[index], self.config)
                    found[index].append((detector.name, view, boxes_in_image))

    def _verdict(
        self, found: list[tuple[str, View, np.ndarray]], complete: bool = True
    ) -> AuditResult:
        scores = {name: 0.0 for name in self.thresholds}
        relative, worst, faces, near = 0.0, None, [], []
        # Deterministic order: detector, then view; ties keep the first.
        for name, view, boxes in sorted(found, key=lambda f: (f[0], f[1].region, f[1].scale)):
            threshold = self.thresholds[name]
            best = float(boxes[:, 4].max())
            scores[name] = max(scores[name], best)
            if best / threshold > relative:
                relative, worst = best / threshold, Finding(name, view, best, threshold)
            faces.append(boxes[boxes[:, 4] >= threshold])
            near.append(boxes[boxes[:, 4] >= NEAR_SHARE * DETECTOR_VIEWS[name].margin * threshold])
        margin_score = max(
            (s / (DETECTOR_VIEWS[n].margin * self.thresholds[n]) for n, s in scores.items()),
            default=0.0,
        )
        return AuditResult(
            score=relative,
            scores=scores,
            faces=_by_score(faces),
            worst=worst,
            margin_score=margin_score,
            near_faces=_by_score(near),
            complete=complete,
        )


def _by_score(parts: list[np.ndarray]) -> np.ndarray:
    boxes = np.concatenate(parts) if parts else EMPTY
    return boxes[np.argsort(-boxes[:, 4], kind="stable")]


@dataclass(frozen=True)
class _Sheet:
    """One detector input: views of one image side by side in a row (a mosaic) or a single view,
    ``MOSAIC_GAP`` zero columns between them, and zeros up to multiples of the models' stride."""

    placements: tuple[tuple[View, np.ndarray, int], ...]  # view, its pixels, its first column
    shape: tuple[int, int]

    @classmethod
    def row(cls, views: list[tuple[View, np.ndarray]]) -> _Sheet:
        placements, column, height = [], 0, 0
        for view, pixels in views:
            placements.append((view, pixels, column))
            column += pixels.shape[1] + MOSAIC_GAP
            height = max(height, pixels.shape[0])
        width = placements[-1][2] + placements[-1][1].shape[1]
        return cls(tuple(placements), (_round_up(height, STRIDE), _round_up(width, STRIDE)))

    def paint(self, canvas: np.ndarray) -> None:
        for _, pixels, column in self.placements:
            canvas[: pixels.shape[0], column : column + pixels.shape[1]] = pixels

    def split(self, boxes: np.ndarray) -> list[tuple[View, np.ndarray]]:
        """The sheet's boxes per view, in that view's pixels; boxes centred outside every view
        (in a gap or the padding) are dropped."""
        if len(boxes) == 0:
            return []
        centre_x, centre_y = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        out = []
        for view, pixels, column in self.placements:
            height, width = pixels.shape[:2]
            inside = (centre_x >= column) & (centre_x < column + width) & (centre_y < height)
            if inside.any():
                mine = boxes[inside].copy()
                mine[:, [0, 2]] = np.clip(mine[:, [0, 2]] - column, 0, width)
                mine[:, [1, 3]] = np.clip(mine[:, [1, 3]], 0, height)
                out.append((view, mine, (height, width)))
        return [(view, _scaled(mine, shape)) for view, mine, shape in out]


def _round_up(value: int, step: int) -> int:
    return max(step, -(-value // step) * step)


def _scaled(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boxes in a view's pixels as fractions of the view (x by width, y by height)."""
    height, width = shape
    return boxes / np.array([width, height, width, height, 1.0], np.float32)


def _to_image(boxes: np.ndarray, view: View, image: np.ndarray, config: AuditConfig) -> np.ndarray:
    """A view's boxes (fractions of the view) in the image's pixels."""
    region_height = head_height(image.shape[0], config) if view.region == "head" else image.shape[0]
    return boxes * np.array(
        [image.shape[1], region_height, image.shape[1], region_height, 1.0], np.float32
    )
