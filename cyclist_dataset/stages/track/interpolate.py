"""Offline gap filling: boxes for the frames a tracklet missed, linear between its rows."""

from __future__ import annotations

import numpy as np

from cyclist_dataset.stages.track.association import EPS


def interpolate_gaps(
    times: np.ndarray,
    xyxy: np.ndarray,
    replaced: np.ndarray,
    frame_times: np.ndarray,
    max_gap_s: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes for the frames a tracklet missed: linear between its rows around each gap.

    ``times``/``xyxy``/``replaced``: one tracklet's rows in time order (``Tracklet.replaced``).
    ``frame_times``: sorted timestamps of the frames the detector ran on. A gap is filled when
    its two rows are at most ``max_gap_s`` apart and no stationary row was replaced between them
    (those frames were seen; filling them would re-create the near-duplicates replacement removes).
    Returns (indices into ``frame_times``, (K, 4) boxes).
    """
    picked: list[np.ndarray] = []
    boxes: list[np.ndarray] = []
    if max_gap_s <= 0:
        return np.zeros(0, np.int64), np.zeros((0, 4))
    for k in range(len(times) - 1):
        t0, t1 = times[k], times[k + 1]
        if replaced[k + 1] or t1 - t0 > max_gap_s + EPS:
            continue
        inside = np.arange(
            np.searchsorted(frame_times, t0 + EPS), np.searchsorted(frame_times, t1 - EPS)
        )
        if inside.size:
            w = ((frame_times[inside] - t0) / (t1 - t0))[:, None]
            picked.append(inside)
            boxes.append((1 - w) * xyxy[k] + w * xyxy[k + 1])
    if not picked:
        return np.zeros(0, np.int64), np.zeros((0, 4))
    return np.concatenate(picked), np.concatenate(boxes)
