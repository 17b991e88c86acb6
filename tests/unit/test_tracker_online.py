"""The tracker's online API: ``Tracker.update`` frame by frame and ``reset``, against the batch
loop."""

from __future__ import annotations

import numpy as np

from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.stages.track import Tracker, track
from cyclist_dataset.stages.track.tracker import LOW_SCORE, TRACK_ID


def frame_boxes(t: float) -> np.ndarray:
    """Two riders crossing in opposite directions at 160 px/s, 30 px apart vertically."""
    return np.array(
        [[20 + 160 * t, 100, 80 + 160 * t, 220], [560 - 160 * t, 130, 620 - 160 * t, 250.0]]
    )


def detections(boxes: np.ndarray, low: list[bool] | None = None) -> Detections:
    n = len(boxes)
    data = {LOW_SCORE: np.array(low if low is not None else [False] * n)}
    return Detections(boxes, np.full(n, 0.9), np.full(n, "person", dtype=object), data)


def test_update_assigns_each_box_its_track_frame_by_frame():
    tracker = Tracker(TrackConfig())
    ids = [
        tracker.update(detections(frame_boxes(t)), t).data[TRACK_ID].tolist()
        for t in np.arange(0, 3, 0.1)
    ]
    assert ids[0] == [1, 2] and all(frame == [1, 2] for frame in ids)  # the riders cross, ids stay
    assert [len(tr.rows) for tr in tracker.tracks] == [30, 30]


def test_online_updates_give_the_batch_trackers_tracklets():
    times = np.arange(0, 3, 0.1)
    tracker = Tracker(TrackConfig())
    for t in times:
        tracker.update(detections(frame_boxes(t)), t)
    ts = np.repeat(times, 2)
    batch = track(ts, np.vstack([frame_boxes(t) for t in times]), TrackConfig()).tracklets
    online = sorted(tracker.tracks, key=lambda tr: tr.rows[0])
    assert [tl.rows.tolist() for tl in batch] == [tr.rows for tr in online]


def test_low_score_boxes_extend_tracks_but_never_start_one():
    tracker = Tracker(TrackConfig())
    tracker.update(detections(frame_boxes(0.0)[:1]), 0.0)
    out = tracker.update(detections(frame_boxes(0.1), low=[True, True]), 0.1)
    assert out.data[TRACK_ID].tolist() == [1, -1]  # the second rider's first box was low-score
    assert len(tracker.tracks) == 1


def test_tracks_expire_in_seconds_and_reset_forgets_them():
    tracker = Tracker(TrackConfig(expiration_s=0.5))
    tracker.update(detections(frame_boxes(0.0)), 0.0)
    # the same place, after the expiration
    later = tracker.update(detections(frame_boxes(0.0)), 0.6)
    assert later.data[TRACK_ID].tolist() == [3, 4] and len(tracker.closed) == 2
    tracker.reset()
    assert tracker.tracks == [] and tracker.update(detections(frame_boxes(0.0)), 0.0).data[
        TRACK_ID
    ].tolist() == [1, 2]
