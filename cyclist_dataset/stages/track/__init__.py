"""Track stage: the online tracker (``Tracker``), its batch loop (``track``), offline stitching
and gap filling, and the stage."""

from cyclist_dataset.stages.track.interpolate import interpolate_gaps
from cyclist_dataset.stages.track.stage import (
    detector_frames,
    low_score_candidates,
    summarize_tracklets,
    track_video,
    tracklet_id,
)
from cyclist_dataset.stages.track.stitching import stitch
from cyclist_dataset.stages.track.tracker import Tracker, Tracklet, TrackResult, track

__all__ = [
    "Tracker",
    "TrackResult",
    "Tracklet",
    "detector_frames",
    "interpolate_gaps",
    "low_score_candidates",
    "stitch",
    "summarize_tracklets",
    "track",
    "track_video",
    "tracklet_id",
]
