"""The privacy audit: can a face detector still find a face in what we store?

``Auditor.check`` runs face detectors (CenterFace and YuNet by default) over one image at a
sensitive operating point and returns the highest face score relative to each detector's
threshold (>= 1: a face was found, the image fails). The crop stage runs it on every crop in
memory, before the crop is written; ``tools.privacy_audit`` runs it over every image file a
workspace holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cyclist_dataset.core.config import AuditConfig
from cyclist_dataset.stages.anonymize.faces import EMPTY, make_face_detector

# Detections below this are not even reported (the audit's floor, far below any threshold).
REPORT_FLOOR = 0.05


@dataclass(frozen=True)
class AuditResult:
    score: float  # highest face score / its detector's threshold; >= 1 fails
    scores: dict[str, float]  # per detector: its highest raw face score (0: none above the floor)
    faces: np.ndarray = field(repr=False)  # (N, 5) boxes at or above their detector's threshold

    @property
    def passed(self) -> bool:
        return self.score < 1.0


class Auditor:
    """Face detectors at the audit's thresholds; thread-safe (share one per process)."""

    def __init__(self, config: AuditConfig = AuditConfig()) -> None:
        self.config = config
        self.detectors = [
            make_face_detector(name, config.upscale_to_px) for name in config.detectors
        ]
        self.thresholds = [config.threshold(name) for name in config.detectors]

    @property
    def identity(self) -> dict:
        return {
            "detectors": [d.identity for d in self.detectors],
            "thresholds": dict(zip(self.config.detectors, self.thresholds, strict=True)),
            "upscale_to_px": self.config.upscale_to_px,
        }

    def check(self, image: np.ndarray) -> AuditResult:
        scores: dict[str, float] = {}
        relative, faces = 0.0, []
        for detector, threshold in zip(self.detectors, self.thresholds, strict=True):
            boxes = detector.detect(image, REPORT_FLOOR)
            best = float(boxes[:, 4].max()) if len(boxes) else 0.0
            scores[detector.name] = best
            relative = max(relative, best / threshold)
            faces.append(boxes[boxes[:, 4] >= threshold])
        found = np.concatenate(faces) if faces else EMPTY
        return AuditResult(score=relative, scores=scores, faces=found)
