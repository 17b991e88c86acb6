"""The tracker: an online ``Tracker`` (``update`` frame by frame, ``reset``) and ``track``, the
batch loop over it that the track stage runs on a whole video.

All time logic is in seconds of frame timestamps, never frame counts, so it works at any (sampled)
fps. Per frame, three global assignments (``association.assign``): established tracks (> 2 boxes
matched) get the high-score boxes first, then young tracks the boxes left (as ByteTrack treats
unconfirmed tracks: a one-box track must not win a box from an established one), then tracks
still unmatched in the frame get the low-score boxes (they extend tracks, never start one).
Track ids from ``update`` are online ones: ``track`` also stitches pieces offline (``stitch``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.stages.track.association import EPS, OpenTrack, assign
from cyclist_dataset.stages.track.stitching import stitch

LOW_SCORE = "low_score"  # Detections.data key: bool, the box may only extend a track
TRACK_ID = "track_id"  # Detections.data key set by Tracker.update: the box's track, -1 for none


class Tracker:
    """Schoustra's MATCHBOXES tracker, online: feed each frame's boxes with ``update``.

    Boxes are numbered in the order they are fed (0, 1, ...); a track's ``rows`` are those numbers.
    """

    def __init__(self, config: TrackConfig = TrackConfig()) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        """Forget every track (a new video)."""
        self.open: list[OpenTrack] = []
        self.closed: list[OpenTrack] = []
        self._boxes_seen = 0
        self._next_id = 1

    @property
    def tracks(self) -> list[OpenTrack]:
        """Every track so far, closed ones first."""
        return self.closed + self.open

    def update(self, detections: Detections, timestamp_s: float) -> Detections:
        """Assign one frame's boxes (``data["low_score"]``: boxes that may only extend a track) to
        tracks. Returns the detections with ``data["track_id"]``: the track each box joined or
        started, -1 for a low-score box no track took. Timestamps must not decrease."""
        t = float(timestamp_s)
        expiration = self.config.expiration_s + EPS
        if self.open:  # close expired tracks before matching
            alive = [tr for tr in self.open if t - tr.last_time <= expiration]
            if len(alive) < len(self.open):
                self.closed += [tr for tr in self.open if t - tr.last_time > expiration]
                self.open = alive
        boxes = np.asarray(detections.xyxy, dtype=float)
        low = np.asarray(detections.data.get(LOW_SCORE, np.zeros(len(boxes), bool)), dtype=bool)
        offset, box_l, p = self._boxes_seen, boxes.tolist(), self.config
        self._boxes_seen += len(boxes)
        high, low_rows = np.flatnonzero(~low).tolist(), np.flatnonzero(low).tolist()
        high = assign(
            [tr for tr in self.open if len(tr.matched) > 2], high, boxes, box_l, t, p, offset
        )
        high = assign(
            [tr for tr in self.open if len(tr.matched) <= 2], high, boxes, box_l, t, p, offset
        )
        assign([tr for tr in self.open if tr.last_time < t], low_rows, boxes, box_l, t, p, offset)
        for row in high:
            self.open.append(OpenTrack(self._next_id, offset + row, t, box_l[row]))
            self._next_id += 1
        track_id = np.full(len(boxes), -1, np.int64)
        for tr in self.open:
            if tr.matched[-1] >= offset:  # the track took a box of this frame
                track_id[tr.matched[-1] - offset] = tr.track_id
        return detections.with_data(**{TRACK_ID: track_id})


@dataclass(frozen=True)
class Tracklet:
    number: int  # 1-based, ordered by timestamp of rows[0] (ties: by rows[0])
    rows: np.ndarray  # int64 indices into the input arrays, in time order
    matched: np.ndarray  # every row the track matched, stationary rows it later replaced included
    kf_xyxy: np.ndarray  # (len(rows), 4) the Kalman filter's box right after each row's update
    replaced: np.ndarray  # (len(rows),) bool: the row replaced a stationary row (no gap before it)


@dataclass(frozen=True)
class TrackResult:
    tracklets: list[Tracklet]
    dropped_too_short: int  # tracks shorter than min_pickup_s or with fewer than min_boxes rows
    dropped_sparse: int  # online tracks with a box in fewer than min_hit_share of their frames


def _check_inputs(
    ts: np.ndarray, boxes: np.ndarray, frame_index: np.ndarray | None, low_score: np.ndarray | None
) -> None:
    n = ts.shape[0]
    if ts.ndim != 1 or boxes.shape != (n, 4):
        raise ValueError(
            f"expected timestamp (N,) and xyxy (N, 4), got {ts.shape} and {boxes.shape}"
        )
    if not (np.isfinite(ts).all() and np.isfinite(boxes).all()):
        raise ValueError("timestamps and boxes must be finite")
    if ((boxes[:, 2] <= boxes[:, 0]) | (boxes[:, 3] <= boxes[:, 1])).any():
        raise ValueError("boxes must have positive width and height")
    if low_score is not None and np.shape(low_score) != (n,):
        raise ValueError(f"low_score must have shape ({n},), got {np.shape(low_score)}")
    if frame_index is not None:
        fi = np.asarray(frame_index)
        if fi.shape != (n,):
            raise ValueError(f"frame_index must have shape ({n},), got {fi.shape}")
        # Only used as a sanity check: frames are grouped by timestamp, one timestamp per frame.
        pairs = np.unique(np.column_stack([ts, fi.astype(float)]), axis=0)
        if not len(pairs) == len(np.unique(ts)) == len(np.unique(fi)):
            raise ValueError("timestamp and frame_index disagree on how rows group into frames")


def hit_share(track: OpenTrack, feed_ts: np.ndarray, frame_times: np.ndarray) -> float:
    """The share of the frames a track spans (``frame_times``, sorted) in which it has a box."""
    spanned = np.searchsorted(frame_times, track.last_time + EPS) - np.searchsorted(
        frame_times, track.first_time - EPS
    )
    return len(np.unique(feed_ts[track.matched])) / max(int(spanned), 1)


def track(
    timestamp: np.ndarray,
    xyxy: np.ndarray,
    params: TrackConfig = TrackConfig(),
    frame_index: np.ndarray | None = None,
    low_score: np.ndarray | None = None,
    frame_times: np.ndarray | None = None,
) -> TrackResult:
    """Group one video's boxes into tracklets; rows with equal timestamps form one frame.

    A loop of ``Tracker.update`` over the frames in time order, then the offline steps: tracks
    with a box in fewer than ``min_hit_share`` of the frames they span are dropped (counted in
    ``TrackResult.dropped_sparse``), pieces of one motion are stitched (``stitch``, up to
    ``stitch_max_gap_s`` apart), then tracks shorter than ``min_pickup_s`` or with fewer than
    ``min_boxes`` rows are dropped (counted in ``TrackResult.dropped_too_short``). ``low_score``
    (bool per row) marks boxes for the low-score pass only: they may extend tracks still
    unmatched in their frame, never start one. ``frame_times``: the timestamps of every frame the
    detector ran on (default: those of the rows; frames without a box then do not count).
    """
    ts = np.asarray(timestamp, dtype=float)
    boxes = np.asarray(xyxy, dtype=float)
    _check_inputs(ts, boxes, frame_index, low_score)
    if ts.size == 0:
        return TrackResult([], dropped_too_short=0, dropped_sparse=0)
    low = np.zeros(ts.size, bool) if low_score is None else np.asarray(low_score, bool)

    # Frames in time order; within a frame the high-score rows first (stable: input order). The
    # tracker numbers boxes in the order they are fed, so feed number k is input row order[k].
    order = np.lexsort((low, ts))
    cuts = (np.flatnonzero(np.diff(ts[order]) != 0) + 1).tolist()
    tracker = Tracker(params)
    no_scores, no_names = np.full(ts.size, np.nan), np.full(ts.size, None, dtype=object)
    for frame in np.split(order, cuts):
        tracker.update(
            Detections(boxes[frame], no_scores[frame], no_names[frame], {LOW_SCORE: low[frame]}),
            ts[frame[0]],
        )
    feed_ts = ts[order]
    # A frame with a box is a frame the detector ran on, whatever frame_times says; times closer
    # than EPS are one frame (the same index / fps computed twice).
    all_frames = np.unique(ts if frame_times is None else np.r_[ts, np.asarray(frame_times, float)])
    all_frames = all_frames[np.r_[True, np.diff(all_frames) > EPS]]
    dense = [
        tr
        for tr in tracker.tracks
        if hit_share(tr, feed_ts, all_frames) >= params.min_hit_share - EPS
    ]
    tracks = stitch(dense, feed_ts, boxes[order], params)
    kept = [
        tr
        for tr in tracks
        if tr.last_time - tr.first_time >= params.min_pickup_s - EPS
        and len(tr.rows) >= params.min_boxes
    ]
    kept.sort(key=lambda tr: (ts[order[tr.rows[0]]], order[tr.rows[0]]))
    tracklets = [
        Tracklet(
            number=k + 1,
            rows=order[np.asarray(tr.rows, dtype=np.int64)],
            matched=order[np.asarray(tr.matched, dtype=np.int64)],
            kf_xyxy=np.asarray(tr.kf_boxes, dtype=float).reshape(-1, 4),
            replaced=np.asarray(tr.replaced, dtype=bool),
        )
        for k, tr in enumerate(kept)
    ]
    return TrackResult(
        tracklets,
        dropped_too_short=len(tracks) - len(kept),
        dropped_sparse=len(tracker.tracks) - len(dense),
    )
