"""Track stage: one video's filtered detections -> one row per box of a cyclist tracklet.

The tracker (``tracker.Tracker``, Schoustra 2020 Algorithm 1 with a seconds-based Kalman filter)
runs over the kept boxes; the stage then keeps the cyclists (riders paired with a bicycle often
enough), fills short gaps (``interpolate``) and builds the TRACKLETS table and its summary.

Options beyond the thesis (TrackConfig): a third pass with low-score boxes (ByteTrack's idea:
they extend tracks still unmatched in their frame, never start one), offline: sparse tracks
dropped (min_hit_share), pieces of one motion stitched (stitch_max_gap_s), a minimum number of
rows per tracklet (min_boxes) and linear interpolation of short gaps (``interpolate_gaps``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import FilterConfig, TrackConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.geometry import BOX_COLUMNS
from cyclist_dataset.core.roi import Roi
from cyclist_dataset.io.video import FrameSampler
from cyclist_dataset.stages.filter import drop_reasons
from cyclist_dataset.stages.track.interpolate import interpolate_gaps
from cyclist_dataset.stages.track.tracker import track


def tracklet_id(video_id: str, number: int) -> str:
    return f"{video_id}_t{number:04d}"


def low_score_candidates(
    detections: pa.Table, config: TrackConfig, roi: Roi | None, filter_config: FilterConfig | None
) -> np.ndarray:
    """(N,) bool: boxes the filter dropped for their score alone, scoring at least
    ``low_score_min``.

    The filter records only the FIRST rule a box fails (class, score, then shape and ROI), so a
    box dropped for its score is checked again against every other rule here.
    """
    n = detections.num_rows
    if config.low_score_min is None:
        return np.zeros(n, bool)
    score = detections.column("score").to_numpy()
    reason = detections.column("drop_reason").to_numpy(zero_copy_only=False)
    low = (reason == "score") & (score >= config.low_score_min)
    if not low.any():
        return low
    if roi is None or filter_config is None:
        raise ValueError(
            "the low-score pass (track.low_score_min) needs the ROI and the filter config"
        )
    # The filter's own rules, with the score rule switched off.
    others = drop_reasons(
        Detections.from_table(detections), roi, filter_config.model_copy(update={"score_min": 0.0})
    )
    return low & np.array([r is None for r in others], dtype=bool)


def detector_frames(
    fps: float, frame_count: int, sample_fps: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices and timestamps (index / fps) of the frames the detect stage runs on.

    The same ``FrameSampler`` as ``video.frames`` (tests check the two agree on real footage).
    """
    sampler = FrameSampler(sample_fps)
    index = np.asarray([i for i in range(frame_count) if sampler.take(i / fps)], dtype=np.int64)
    return index, index / fps


def track_video(
    detections: pa.Table,
    config: TrackConfig,
    location: str,
    camera: str,
    roi: Roi | None = None,
    filter_config: FilterConfig | None = None,
    frames: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[pa.Table, dict]:
    """The track stage: one video's filtered detections -> one row per box of a cyclist tracklet.

    Tracks the kept boxes (plus, with ``low_score_min``, on by default, the boxes dropped only
    for their score; where there are any, ``roi`` and ``filter_config`` are needed to check the
    filter's other rules). A tracklet is a cyclist when its rider is paired with a bicycle in at
    least ``min_bicycle_share`` of its detected boxes (with ``require_bicycle``). ``frames``
    (indices, timestamps; see ``detector_frames``) are the frames the detector ran on, by default
    those present in ``detections`` (which lacks frames where the detector found nothing at all):
    gaps of up to ``max_gap_s`` are filled by linear interpolation at them, and they are the frames
    a track spans for ``min_hit_share`` (a frame where the filter dropped the subject's box counts
    as a miss). Returns the TRACKLETS table and counts.
    """
    high = detections.column("kept").to_numpy(zero_copy_only=False)
    low = low_score_candidates(detections, config, roi, filter_config) & ~high
    used = detections.filter(pa.array(high | low))
    low = low[high | low]
    ts, xyxy = used.column("timestamp_s").to_numpy(), Detections.from_table(used).xyxy
    if frames is None:
        index, first = np.unique(detections.column("frame_index").to_numpy(), return_index=True)
        frames = index, detections.column("timestamp_s").to_numpy()[first]
    frame_index, frame_ts = np.asarray(frames[0], np.int64), np.asarray(frames[1], float)
    result = track(
        ts, xyxy, config, used.column("frame_index").to_numpy(), low_score=low, frame_times=frame_ts
    )
    paired = used.column("bicycle_detection_id").is_valid().to_numpy(zero_copy_only=False)
    cyclists = [
        t
        for t in result.tracklets
        if not config.require_bicycle or paired[t.rows].mean() >= config.min_bicycle_share
    ]

    parts, interpolated = [], 0
    for number, tl in enumerate(cyclists, start=1):
        picked = used.take(pa.array(tl.rows, pa.int64()))
        tid = tracklet_id(picked.column("video_id")[0].as_py(), number)
        rows = _rows_table(picked, tid, location, camera, low[tl.rows], tl.kf_xyxy)
        at, boxes = interpolate_gaps(
            ts[tl.rows], xyxy[tl.rows], tl.replaced, frame_ts, config.max_gap_s
        )
        if at.size:
            filled = _interpolated_table(
                picked, tid, location, camera, frame_index[at], frame_ts[at], boxes
            )
            rows = pa.concat_tables([rows, filled]).sort_by("timestamp_s")
            interpolated += at.size
        parts.append(rows)
    table = pa.concat_tables(parts) if parts else schemas.TRACKLETS.empty_table()
    return table, {
        "tracklets": len(cyclists),
        "dropped_not_cyclist": len(result.tracklets) - len(cyclists),
        "dropped_too_short": result.dropped_too_short,
        "dropped_sparse": result.dropped_sparse,
        "low_score_rows": int(table.column("low_score").to_numpy(zero_copy_only=False).sum()),
        "interpolated_rows": interpolated,
    }


def _rows_table(
    picked: pa.Table, tid: str, location: str, camera: str, low: np.ndarray, kf_xyxy: np.ndarray
) -> pa.Table:
    n = picked.num_rows
    return schemas.table(
        schemas.TRACKLETS,
        {
            "tracklet_id": [tid] * n,
            "location": [location] * n,
            "camera": [camera] * n,
            **{
                name: picked.column(name)
                for name in schemas.TRACKLETS.names
                if name in picked.column_names
            },
            "low_score": low,
            "interpolated": np.zeros(n, bool),
            **{f"kf_{c}": kf_xyxy[:, k] for k, c in enumerate(BOX_COLUMNS)},
        },
    )


def _interpolated_table(
    picked: pa.Table,
    tid: str,
    location: str,
    camera: str,
    frames: np.ndarray,
    timestamps: np.ndarray,
    boxes: np.ndarray,
) -> pa.Table:
    n = len(frames)
    nulls = {
        name: pa.nulls(n) for name in ("detection_id", "score", "kf_x1", "kf_y1", "kf_x2", "kf_y2")
    }
    nulls.update({f.name: pa.nulls(n) for f in schemas.TRACKLETS if f.name.startswith("bicycle_")})
    return schemas.table(
        schemas.TRACKLETS,
        {
            "tracklet_id": [tid] * n,
            "location": [location] * n,
            "camera": [camera] * n,
            "video_id": [picked.column("video_id")[0].as_py()] * n,
            "frame_index": frames,
            "timestamp_s": timestamps,
            **{c: boxes[:, k] for k, c in enumerate(BOX_COLUMNS)},
            "model": [picked.column("model")[0].as_py()] * n,
            "low_score": np.zeros(n, bool),
            "interpolated": np.ones(n, bool),
            **nulls,
        },
    )


def summarize_tracklets(tracklets: pa.Table) -> pa.Table:
    """One TRACKLET_SUMMARY row per tracklet of a TRACKLETS table (any number of videos).

    Mean score and bicycle share are over the detected rows (interpolated rows have neither).
    """
    rows = tracklets.to_pandas()
    if rows.empty:
        return schemas.TRACKLET_SUMMARY.empty_table()
    rows["detected"] = ~rows["interpolated"]
    rows["paired"] = rows["bicycle_detection_id"].notna()
    grouped = rows.sort_values(["tracklet_id", "timestamp_s"]).groupby("tracklet_id", sort=True)
    detected = rows[rows["detected"]].groupby("tracklet_id", sort=True)
    summary = pd.DataFrame(
        {
            "video_id": grouped["video_id"].first(),
            "location": grouped["location"].first(),
            "camera": grouped["camera"].first(),
            "first_frame_index": grouped["frame_index"].min(),
            "last_frame_index": grouped["frame_index"].max(),
            "start_timestamp_s": grouped["timestamp_s"].min(),
            "end_timestamp_s": grouped["timestamp_s"].max(),
            "n_boxes": grouped.size(),
            "n_interpolated": grouped["interpolated"].sum(),
            "n_low_score": grouped["low_score"].sum(),
            "mean_score": detected["score"].mean(),
            "bicycle_share": detected["paired"].mean(),
        }
    ).reset_index()
    summary["duration_s"] = summary["end_timestamp_s"] - summary["start_timestamp_s"]
    return schemas.from_pandas(schemas.TRACKLET_SUMMARY, summary)
