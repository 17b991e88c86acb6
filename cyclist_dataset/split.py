"""Split stage: per hour of footage, train or validation by recording time (thesis: minutes 50-60 validate).

A tracklet is never cut: all its crops go to the part of the hour holding the tracklet's midpoint.
Times are the location's local recording clock, so every camera of a location shares the boundaries.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pandas as pd
import pyarrow as pa

from cyclist_dataset import schemas
from cyclist_dataset.config import SplitConfig


def split_of(minute_of_hour: pd.Series, config: SplitConfig) -> pd.Series:
    """'validation' for minutes in the validation window (which may wrap past the hour), else 'train'."""
    offset = (minute_of_hour - config.validation_start_minute) % 60
    return pd.Series(["validation" if o < config.validation_minutes else "train" for o in offset],
                     index=minute_of_hour.index, dtype=object)


def assign_splits(crops: pa.Table, config: SplitConfig, timezone: str) -> pa.Table:
    frame = crops.to_pandas()
    if frame.empty:
        return schemas.table(schemas.CROPS, {name: [] for name in schemas.CROPS.names})
    local = frame["timestamp"].dt.tz_convert(ZoneInfo(timezone))
    bounds = local.groupby(frame["tracklet_id"]).agg(["min", "max"])
    midpoint = bounds["min"] + (bounds["max"] - bounds["min"]) / 2
    minute = midpoint.dt.minute + midpoint.dt.second / 60 + midpoint.dt.microsecond / 60e6
    frame["split"] = frame["tracklet_id"].map(split_of(minute, config))
    return schemas.from_pandas(schemas.CROPS, frame)
