"""Split stage: per hour of footage, train or validation by recording time (thesis: minutes 50-60
validate).

A tracklet is never cut: all its crops go to the part of the hour holding the tracklet's midpoint.
Times are the location's local recording clock (crop ``timestamp``, UTC, converted to the
location's zone), so every camera of a location shares the same boundaries.

Two kinds of crops never reach the split manifest (``manifests/crops``), and the stage reports
how many each cost in its metadata (``split_stats``, see ``SPLIT_STATS_KEY``):

- the guard band: a tracklet that comes within ``guard_s`` of a train/validation boundary is
  dropped whole, so one cyclist seen by two cameras around a boundary cannot land in both parts;
- the privacy gate: crops the anonymization audit refused (never written: no ``crop_path``; or,
  from older results, ``audit_passed`` false) are left out.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pyarrow as pa

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import SplitConfig
from cyclist_dataset.io.workspace import Workspace, read_params

PARTS = ("train", "validation")  # the values of the manifest's `split` column
# Key of the split stage's extra metadata (merged into the result file's params by the runner).
SPLIT_STATS_KEY = "split_stats"
AUDIT_COLUMN = "audit_passed"
_HOUR_S = 3600.0


def split_of(minute_of_hour: pd.Series, config: SplitConfig) -> pd.Series:
    """'validation' for minutes in the validation window (which may wrap past the hour), else
    'train'."""
    offset = (minute_of_hour - config.validation_start_minute) % 60
    return pd.Series(
        ["validation" if o < config.validation_minutes else "train" for o in offset],
        index=minute_of_hour.index,
        dtype=object,
    )


def boundaries_s(config: SplitConfig) -> tuple[float, ...]:
    """Where train and validation meet, in seconds after the full (local) hour; none if one part is
    empty."""
    if config.validation_minutes in (0, 60):
        return ()
    start = config.validation_start_minute * 60.0
    return (start, (start + config.validation_minutes * 60.0) % _HOUR_S)


def near_boundary(start_s: np.ndarray, duration_s: np.ndarray, config: SplitConfig) -> np.ndarray:
    """True where the interval [start, start + duration] (start in seconds after the local hour) is
    closer than ``guard_s`` to a boundary, or contains one. ``guard_s == 0`` turns the band off."""
    hit = np.zeros(len(start_s), dtype=bool)
    if config.guard_s <= 0:
        return hit
    for boundary in boundaries_s(config):
        # Forward distance, modulo the hour, from (start - guard) to the boundary.
        reach = (boundary - (start_s - config.guard_s)) % _HOUR_S
        hit |= reach < duration_s + 2 * config.guard_s
    return hit


def split_crops(crops: pa.Table, config: SplitConfig, timezone: str) -> tuple[pa.Table, dict]:
    """The split stage: crops (anonymize stage rows) -> the split manifest, and what it cost.

    Returns the ``schemas.CROPS`` table (only train and validation rows) and the stage's extra
    metadata ``{"split_stats": {...}}`` with the crops and tracklets dropped by the guard band and
    refused by the privacy gate.
    """
    frame = crops.to_pandas()
    stats = {
        "crops_in": len(frame),
        "tracklets_in": int(frame["tracklet_id"].nunique()) if len(frame) else 0,
        "guard_band_crops": 0,
        "guard_band_tracklets": 0,
        "audit_column": AUDIT_COLUMN in frame.columns,
        "audit_refused_crops": 0,
        "crops_train": 0,
        "crops_validation": 0,
    }
    if frame.empty:
        return _empty(), {SPLIT_STATS_KEY: stats}
    # The part and the guard band are decided on every crop of a tracklet (its true time span),
    # before the privacy gate removes any, so refusing a crop never moves a tracklet.
    local = frame["timestamp"].dt.tz_convert(ZoneInfo(timezone))
    bounds = local.groupby(frame["tracklet_id"]).agg(["min", "max"])
    midpoint = bounds["min"] + (bounds["max"] - bounds["min"]) / 2
    minute = midpoint.dt.minute + midpoint.dt.second / 60 + midpoint.dt.microsecond / 60e6
    part = split_of(minute, config)
    start = bounds["min"]
    start_s = (start.dt.minute * 60 + start.dt.second + start.dt.microsecond / 1e6).to_numpy(float)
    duration_s = (bounds["max"] - bounds["min"]).dt.total_seconds().to_numpy(float)
    guarded = pd.Series(near_boundary(start_s, duration_s, config), index=bounds.index)

    frame["split"] = frame["tracklet_id"].map(part)
    in_band = frame["tracklet_id"].map(guarded).to_numpy(bool)
    stats["guard_band_crops"] = int(in_band.sum())
    stats["guard_band_tracklets"] = int(guarded.sum())
    keep = ~in_band
    # A crop the privacy audit refused was never written (no crop_path); older results wrote it
    # and marked it failed. Only an explicit False is a failed audit; null: not audited.
    refused = frame["crop_path"].isna().to_numpy(bool, copy=True)
    if stats["audit_column"]:
        refused |= frame[AUDIT_COLUMN].eq(False).fillna(False).to_numpy(bool)
    stats["audit_refused_crops"] = int((refused & keep).sum())
    keep &= ~refused
    frame = frame[keep].copy()
    for field in schemas.CROPS:  # columns newer than the input (e.g. the audit's) stay null
        if field.name not in frame.columns and field.nullable:
            frame[field.name] = None
    for name in PARTS:
        stats[f"crops_{name}"] = int((frame["split"] == name).sum())
    return schemas.from_pandas(schemas.CROPS, frame), {SPLIT_STATS_KEY: stats}


def _empty() -> pa.Table:
    return schemas.table(schemas.CROPS, {name: [] for name in schemas.CROPS.names})


def split_stats(root: Path) -> pd.DataFrame:
    """Per video, what the split stage kept and dropped (from the split manifests' metadata).

    Videos split before the stage recorded statistics have no row.
    """
    rows = []
    for path in sorted(Workspace(root).manifest("crops").glob("*.parquet")):
        params = read_params(path)
        if SPLIT_STATS_KEY in params:
            rows.append({"video_id": path.stem, **params[SPLIT_STATS_KEY]})
    return pd.DataFrame(rows).set_index("video_id") if rows else pd.DataFrame()
