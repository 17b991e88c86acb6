"""The tracker on MOTChallenge files (``cyclist-dataset track-mot``) and the tracklets manifest as
MOTChallenge rows, for TrackEval and for review in CVAT."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.core.geometry import BOX_COLUMNS
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.mot import MOT_COLUMNS, mot_xyxy, tracks_frame
from cyclist_dataset.stages.track import interpolate_gaps, track


def tracklets_to_mot(
    tracklets: pa.Table | pd.DataFrame, video_id: str | None = None, for_cvat: bool = False
) -> pd.DataFrame:
    """One video's rows of the tracklets manifest as MOTChallenge rows.

    frame = frame_index + 1; id = the tracklet's number (``..._t0007`` -> 7); the detector's box,
    rounded to 0.01 px (manifest boxes are float32). Tracker style (default): conf = the score,
    -1 on interpolated rows, then -1, -1, -1. ``for_cvat``: gt style as CVAT's "MOT 1.1" import
    reads it: conf 1 (not ignored), class 1 (the first line of labels.txt), visibility 1.
    """
    rows = tracklets.to_pandas() if isinstance(tracklets, pa.Table) else tracklets
    if video_id is not None:
        rows = rows[rows["video_id"] == video_id]
    elif rows["video_id"].nunique() > 1:
        raise ValueError(
            f"rows of {rows['video_id'].nunique()} videos; MOT files hold one video: pass video_id"
        )
    number = rows["tracklet_id"].str.extract(r"_t(\d+)$", expand=False).astype(np.int64)
    xyxy = np.round(rows[list(BOX_COLUMNS)].to_numpy(dtype=np.float64), 2)
    conf = rows["score"].astype(float).fillna(-1.0).to_numpy()
    out = tracks_frame(
        rows["frame_index"].to_numpy() + 1, number.to_numpy(), xyxy, np.round(conf, 4)
    )
    # x2 - x1 of rounded values is not
    out[["x", "y", "w", "h"]] = out[["x", "y", "w", "h"]].round(2)
    if for_cvat:
        out = out.drop(columns=["col10"]).assign(conf=1.0, col8=1.0, col9=1.0)
    return out


def track_detections(
    detections: pd.DataFrame,
    fps: float,
    config: TrackConfig = TrackConfig(),
    score_min: float | None = None,
    source: str = "detections",
) -> pd.DataFrame:
    """Run the tracker over a MOTChallenge detections table (``read_mot``); tracker-style rows back.

    Frame f is at (f - 1) / fps s. Boxes with conf >= ``score_min`` (None: every box, whatever its
    conf; files often have conf -1) are tracked; with ``config.low_score_min``, boxes from there
    up to ``score_min`` join the second pass only.
    Every box a track matched is written (with its original values and conf), stationary boxes
    the dataset would replace included: MOT metrics score every frame. Interpolated rows
    (``config.max_gap_s``) go to every frame of a gap, with conf -1 and boxes rounded to 0.01 px.
    """
    if fps <= 0:
        raise UserError(f"fps must be positive, got {fps}")
    conf = detections["conf"].to_numpy(dtype=float)
    score_min = -np.inf if score_min is None else score_min
    low = (conf < score_min) & (
        conf >= config.low_score_min if config.low_score_min is not None else False
    )
    rows = detections[(conf >= score_min) | low]
    low = low[(conf >= score_min) | low]
    bad = ((rows["w"] <= 0) | (rows["h"] <= 0)).to_numpy()
    if bad.any():
        raise UserError(
            f"{source}:{rows.index[np.argmax(bad)]}: box width and height must be positive"
        )
    frames = rows["frame"].to_numpy()
    times = (frames - 1) / fps
    xyxy = mot_xyxy(rows)
    every_frame = np.arange(1, int(frames.max()) + 1) if len(frames) else np.zeros(0, np.int64)
    frame_times = (every_frame - 1) / fps
    tracklets = track(times, xyxy, config, frames, low_score=low, frame_times=frame_times).tracklets

    parts = [rows.iloc[tl.matched][MOT_COLUMNS].assign(id=tl.number) for tl in tracklets]
    for tl in tracklets:
        no_replacements = np.zeros(len(tl.matched), bool)
        at, boxes = interpolate_gaps(
            times[tl.matched],
            xyxy[tl.matched],
            no_replacements,
            frame_times,
            config.max_gap_s,
        )
        if at.size:
            filled = tracks_frame(
                every_frame[at],
                np.full(at.size, tl.number),
                np.round(boxes, 2),
                np.full(at.size, -1.0),
            )
            parts.append(filled[MOT_COLUMNS].round({"w": 2, "h": 2}))
    if not parts:
        return tracks_frame(np.zeros(0), np.zeros(0), np.zeros((0, 4)), np.zeros(0))
    table = pd.concat(parts, ignore_index=True).assign(col8=-1.0, col9=-1.0, col10=-1.0)
    return table.sort_values(["frame", "id"], kind="stable").reset_index(drop=True)
