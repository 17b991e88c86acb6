"""SORT's constant-velocity box filter, in seconds instead of frames.

The state is SORT's 7-vector [cx, cy, area, aspect, vcx, vcy, varea] with H = I(4, 7). Every
matrix of that model (F, Q, R, the initial P) is block-diagonal in the blocks (cx, vcx),
(cy, vcy), (area, varea) and (aspect), so the covariance stays block-diagonal and the filter is
exactly three 2-state filters and one 1-state filter. Writing them out in scalars is ~20x faster
than 7x7 matrix algebra (tests check it against filterpy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# Noise in pixel/second units (SORT's constants are per frame, which breaks at other fps).
# Measurement: detector jitter of a few px on the centre; area and aspect are noisier and area
# scales with the box, so it is relative to the track's first box area s0.
POS_STD = 4.0  # px
AREA_STD_REL = 0.1  # * s0
ASPECT_STD = 0.05  # w/h
# Initial velocity uncertainty: large (a cyclist crosses the view in a few seconds), so that
# two measurements pin the velocity down, as SORT's P[4:,4:] *= 1000 does.
VEL_STD = 500.0  # px/s
AREA_RATE_STD_REL = 1.0  # * s0 per s
# Process noise: white-noise acceleration (continuous, scaled by dt). Cyclists ride at nearly
# constant speed; perspective makes the apparent speed and size drift slowly.
ACC_STD = 150.0  # px/s^2
AREA_ACC_STD_REL = 0.5  # * s0 per s^2
ASPECT_WALK_STD = 0.1  # per sqrt(s)

Box = tuple[float, float, float, float]


def to_z(box: Sequence[float]) -> Box:
    """xyxy -> (cx, cy, area, aspect w/h)."""
    w, h = box[2] - box[0], box[3] - box[1]
    return box[0] + w / 2, box[1] + h / 2, w * h, w / h


def to_box(cx: float, cy: float, s: float, r: float) -> Box:
    """(cx, cy, area, aspect) -> xyxy (area/aspect clipped positive)."""
    s, r = max(s, 1e-6), max(r, 1e-6)
    w = math.sqrt(s * r)
    h = s / w
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


class BoxKalmanFilter:
    """One track's filter; its time is always the time of the last box it was updated with."""

    __slots__ = ("x", "p", "meas_var", "acc_var", "time")

    def __init__(self, box: Sequence[float], t: float) -> None:
        z = to_z(box)
        s0 = z[2]
        self.time = t
        self.x = [*z, 0.0, 0.0, 0.0]  # cx, cy, area, aspect, vcx, vcy, varea
        self.meas_var = (POS_STD**2, POS_STD**2, (AREA_STD_REL * s0) ** 2, ASPECT_STD**2)
        self.acc_var = (ACC_STD**2, ACC_STD**2, (AREA_ACC_STD_REL * s0) ** 2)
        vel_var = (VEL_STD**2, VEL_STD**2, (AREA_RATE_STD_REL * s0) ** 2)
        # Covariance per block: (P_pos, P_pos_vel, P_vel) for the three 2-state blocks, then
        # P_aspect.
        self.p: list = [[self.meas_var[i], 0.0, vel_var[i]] for i in range(3)] + [self.meas_var[3]]

    def update(self, box: Sequence[float], t: float) -> Box:
        """Predict to ``t``, update with the measured box; returns the filter's box after the
        update."""
        dt = t - self.time
        x, z = self.x, to_z(box)
        if x[2] + x[6] * dt <= 0:  # like SORT: an area that would shrink below zero stops shrinking
            x[6] = 0.0
        for i in range(3):
            a, b, c = self.p[i]
            q, r = self.acc_var[i], self.meas_var[i]
            # Predict: P <- F P F' + Q (white-noise acceleration).
            a += dt * (2 * b + dt * c) + q * dt**3 / 3
            b += dt * c + q * dt**2 / 2
            c += q * dt
            pos = x[i] + x[i + 4] * dt
            # Update with the measured position.
            s = a + r
            k0, k1 = a / s, b / s
            innovation = z[i] - pos
            x[i], x[i + 4] = pos + k0 * innovation, x[i + 4] + k1 * innovation
            self.p[i] = [a * r / s, b * r / s, c - k1 * b]
        a, r = self.p[3] + ASPECT_WALK_STD**2 * dt, self.meas_var[3]
        x[3] += a / (a + r) * (z[3] - x[3])
        self.p[3] = a * r / (a + r)
        self.time = t
        return to_box(x[0], x[1], x[2], x[3])

    def predict(self, t: float) -> Box:
        """The predicted box at time t (scalar ``predicted_boxes``; the filter is not moved)."""
        x, dt = self.x, t - self.time
        varea = 0.0 if x[2] + x[6] * dt <= 0 else x[6]
        return to_box(x[0] + x[4] * dt, x[1] + x[5] * dt, x[2] + varea * dt, x[3])

    def state(self) -> tuple[float, ...]:
        """(cx, cy, area, aspect, vcx, vcy, varea, time) for vectorized prediction."""
        return (*self.x, self.time)


def predicted_boxes(states: np.ndarray, t: float) -> np.ndarray:
    """(K, 4) predicted xyxy at time t of filters given as (K, 8) ``BoxKalmanFilter.state()`` rows.

    Pure: evaluating a candidate never moves a filter (a rejected match must leave it untouched).
    """
    dt = t - states[:, 7]
    varea = np.where(states[:, 2] + states[:, 6] * dt <= 0, 0.0, states[:, 6])
    cx = states[:, 0] + states[:, 4] * dt
    cy = states[:, 1] + states[:, 5] * dt
    s = np.maximum(states[:, 2] + varea * dt, 1e-6)
    r = np.maximum(states[:, 3], 1e-6)
    w = np.sqrt(s * r)
    h = s / w
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
