"""Colour statistics of a person crop: the appearance measure the labelling app ranks candidates
with, and the baseline feature extractor of ``evaluate`` (a sanity floor, not a re-ID model).
One definition (regions, bins, normalisation), two ways to the pixels: Pillow here (the reader's
dependencies), OpenCV in the labelling app (its candidate ranking was measured with OpenCV's
resize and HSV: 51 of 51 multicam links in the top 3; Pillow's pixels, which differ by about one
level, found 49, benchmarks/annotate.py).

Hue-saturation and value histograms of the torso and the legs (the crop's middle 60% in width, so
that background at the sides weighs less), square-rooted (Hellinger) and L2-normalised: Euclidean
distances between them are Hellinger distances.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

SIZE = (48, 128)  # width, height every crop is resized to
RESAMPLE = Image.Resampling.BOX  # area averaging, as OpenCV's INTER_AREA
REGIONS = ((0.15, 0.5), (0.5, 0.9))  # torso, legs: shares of the crop's height
COLUMNS = (10, 38)  # of the 48: the middle of the crop
HUE_BINS, SATURATION_BINS, VALUE_BINS = 12, 4, 8
DIMENSIONS = len(REGIONS) * (HUE_BINS * SATURATION_BINS + VALUE_BINS)


def colour_statistics(image: Image.Image | np.ndarray) -> np.ndarray:
    """The feature vector (float32, ``DIMENSIONS``) of one RGB crop (a PIL image or an HxWx3
    uint8 array in RGB order), with Pillow: the evaluation's baseline."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(np.ascontiguousarray(image))
    hsv = np.asarray(image.convert("RGB").resize(SIZE, RESAMPLE).convert("HSV"))
    return statistics_of_hsv(hsv, hue_levels=256)


def statistics_of_hsv(hsv: np.ndarray, hue_levels: int) -> np.ndarray:
    """The feature vector of a crop already resized to ``SIZE`` and converted to HSV (uint8), its
    hue in 0..``hue_levels`` - 1 (Pillow: 256; OpenCV: 180, which the labelling app uses: its
    candidate ranking was measured with OpenCV's resize and conversion, see
    ``dataset.labels.candidates``)."""
    height = SIZE[1]
    parts = []
    for top, bottom in REGIONS:
        region = hsv[int(top * height) : int(bottom * height), COLUMNS[0] : COLUMNS[1]]
        hue = region[..., 0].astype(np.int64) * HUE_BINS // hue_levels
        saturation = region[..., 1].astype(np.int64) * SATURATION_BINS // 256
        value = region[..., 2].astype(np.int64) * VALUE_BINS // 256
        hs = np.bincount(
            (hue * SATURATION_BINS + saturation).ravel(), minlength=HUE_BINS * SATURATION_BINS
        )
        v = np.bincount(value.ravel(), minlength=VALUE_BINS)
        parts += [hs / max(hs.sum(), 1), v / max(v.sum(), 1)]
    vector = np.sqrt(np.concatenate(parts))
    return (vector / max(float(np.linalg.norm(vector)), 1e-9)).astype(np.float32)
