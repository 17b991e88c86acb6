"""Rider-bicycle pairing: which bicycle (if any) each person in a frame is riding.

One bicycle per rider, resolved globally per frame (Hungarian assignment on how much of each
bicycle box the person box covers), so two riders side by side never share a bicycle.
A missed bicycle leaves the rider unpaired in that frame; the cyclist decision is the
tracklet's (share of paired frames), never a single frame's.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from cyclist_dataset.core.geometry import coverage


def pair_riders(persons: np.ndarray, bicycles: np.ndarray, min_overlap: float) -> np.ndarray:
    """(P,) int: the index of each person's bicycle, or -1 where none is paired."""
    paired = np.full(len(persons), -1, dtype=np.int64)
    if len(persons) == 0 or len(bicycles) == 0:
        return paired
    cover = coverage(persons, bicycles)
    rows, cols = linear_sum_assignment(cover, maximize=True)
    ok = cover[rows, cols] >= min_overlap
    paired[rows[ok]] = cols[ok]
    return paired
