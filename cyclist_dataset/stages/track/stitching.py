"""Offline stitching: a track that ended joins the one that began soon after it, where each
continues the other's motion (an appearance-free link by rule, as StrongSORT's AFLink learns one).

Why: the online gate (the Kalman IOU) must stay strict, or a track whose box is missing takes a
neighbour's or a false box (README "Tracking": without it, many more ID switches on noisy ground
truth). A box the detector deforms for a frame (a rider partly hidden by a car, a box that
suddenly takes in the bicycle) then fails it and starts a new track, and a track that lost its
subject for longer than ``expiration_s`` ends. Offline both pieces are known, so the link can
ask more than the online gate can: the earlier piece's motion carried forward must overlap the
later piece's first box, the later piece's motion carried back must overlap the earlier piece's
last box, the two must not move in opposite directions, and neither piece may have another
such partner.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.core.geometry import iou
from cyclist_dataset.stages.track.association import EPS, OpenTrack
from cyclist_dataset.stages.track.kalman import Box

# A piece's motion at one end: a line fitted through its boxes over this long a stretch (long
# enough to average the detector's jitter, short enough to stay local).
END_FIT_S = 0.5
# A piece takes part only with boxes in at least this many frames (a motion of its own).
MIN_PIECE_FRAMES = 2
# Below this speed (box heights per second) a direction is the detector's jitter, not motion.
MIN_DIRECTED_SPEED = 0.2


@dataclass(frozen=True)
class EndMotion:
    """A piece's motion at one end: its box there (centre and size) and the centre's velocity."""

    time: float
    centre: np.ndarray  # (2,)
    size: np.ndarray  # (2,) width, height
    velocity: np.ndarray  # (2,) px/s; zero for a piece with one timestamp

    def box_at(self, t: float) -> Box:
        """The box at ``t``: the centre moved at the fitted velocity, the size held (a size trend
        over a gap is not to be trusted: sizes jump when a box is cut or widened)."""
        cx, cy = (self.centre + self.velocity * (t - self.time)).tolist()
        w, h = self.size.tolist()
        return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2

    def directed(self) -> bool:
        return bool(np.linalg.norm(self.velocity) >= MIN_DIRECTED_SPEED * self.size[1])


def end_motion(times: np.ndarray, boxes: np.ndarray, at_start: bool) -> EndMotion:
    """Least-squares line through the centres and sizes of one end's boxes (``END_FIT_S`` of
    them, at least two timestamps where the piece has them)."""
    if not at_start:
        times, boxes = -times[::-1], boxes[::-1]  # the end, seen backwards, is a start
    later = times[times > times[0] + EPS]
    reach = max(times[0] + END_FIT_S, later[0] if later.size else times[0])
    near = times <= reach + EPS
    dt = times[near] - times[0]
    values = np.column_stack(
        [(boxes[near, :2] + boxes[near, 2:]) / 2, boxes[near, 2:] - boxes[near, :2]]
    )
    spread = ((dt - dt.mean()) ** 2).sum()
    slope = (
        (dt - dt.mean()) @ (values - values.mean(axis=0)) / spread if spread > 0 else np.zeros(4)
    )
    at_end = values.mean(axis=0) - slope * dt.mean()  # the line's value at times[0]
    sign = 1.0 if at_start else -1.0
    return EndMotion(sign * times[0], at_end[:2], np.maximum(at_end[2:], 1e-6), sign * slope[:2])


def continues(
    earlier: EndMotion,
    later: EndMotion,
    earlier_box: Sequence[float],
    later_box: Sequence[float],
    iou_min: float,
) -> bool:
    """Whether two pieces' ends are one motion (see the module's docstring)."""
    if iou(earlier.box_at(later.time), later_box) < iou_min:
        return False
    if iou(later.box_at(earlier.time), earlier_box) < iou_min:
        return False
    opposite = float(earlier.velocity @ later.velocity) < 0
    return not (opposite and earlier.directed() and later.directed())


def links(
    tracks: Sequence[OpenTrack], feed_ts: np.ndarray, feed_xyxy: np.ndarray, p: TrackConfig
) -> dict[int, int]:
    """Unambiguous (earlier piece -> later piece) links, as indices into ``tracks``."""
    if p.stitch_max_gap_s <= 0 or len(tracks) < 2:
        return {}
    matched = [np.asarray(track.matched) for track in tracks]
    # Only pieces with a motion of their own take part: a lone box "continues" anything near it.
    has_motion = np.array([len(np.unique(feed_ts[m])) >= MIN_PIECE_FRAMES for m in matched])
    starts = [end_motion(feed_ts[m], feed_xyxy[m], at_start=True) for m in matched]
    ends = [end_motion(feed_ts[m], feed_xyxy[m], at_start=False) for m in matched]
    first_time = np.array([track.first_time for track in tracks])
    candidates = []
    for a, earlier in enumerate(tracks):
        if not has_motion[a]:
            continue
        gap = first_time - earlier.last_time
        in_reach = has_motion & (gap > EPS) & (gap <= p.stitch_max_gap_s + EPS)
        for b in np.flatnonzero(in_reach).tolist():
            if continues(
                ends[a],
                starts[b],
                feed_xyxy[matched[a][-1]].tolist(),
                feed_xyxy[matched[b][0]].tolist(),
                p.iou_min,
            ):
                candidates.append((a, b))
    earlier_count = np.bincount([a for a, _ in candidates], minlength=len(tracks))
    later_count = np.bincount([b for _, b in candidates], minlength=len(tracks))
    return {a: b for a, b in candidates if earlier_count[a] == 1 and later_count[b] == 1}


def stitch(
    tracks: Sequence[OpenTrack], feed_ts: np.ndarray, feed_xyxy: np.ndarray, p: TrackConfig
) -> list[OpenTrack]:
    """``tracks`` with every chain of linked pieces joined into its first piece.

    ``feed_ts``/``feed_xyxy``: the timestamp and box of every row number the tracks hold.
    """
    link = links(tracks, feed_ts, feed_xyxy, p)
    joined = set(link.values())
    out = []
    for a, track in enumerate(tracks):
        if a in joined:
            continue
        while a in link:
            a = link[a]
            track = track.joined_with(tracks[a])
        out.append(track)
    return out
