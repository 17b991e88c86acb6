"""The workspace's tracklets as annotators see them: one row each, with a fingerprint of its
crops."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from cyclist_dataset.core.geometry import BOX_COLUMNS
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.hashing import sha256_bytes
from cyclist_dataset.io.workspace import Workspace, read_params


def read_crops(root: Path) -> pd.DataFrame:
    """The split manifest (``manifests/crops``) of a workspace, every video."""
    folder = Workspace(root).manifest("crops")
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        raise UserError(
            f"{folder}: no split manifest; run the pipeline (all stages) on this workspace first"
        )
    frame = pd.read_parquet(folder)
    return frame.sort_values(["tracklet_id", "frame_index"], kind="stable").reset_index(drop=True)


def split_parameters(root: Path) -> Iterator[tuple[str, dict]]:
    """(location, stored parameters) of every split result file, per location it holds."""
    for path in sorted(Workspace(root).manifest("crops").glob("*.parquet")):
        params = read_params(path)
        locations = (
            pq.read_table(path, columns=["location"]).column("location").unique().to_pylist()
        )
        for location in locations:
            yield location, params


def location_timezones(root: Path) -> dict[str, str]:
    """Each location's clock (the split stage's ``timezone`` parameter), for local times in the
    package."""
    zones: dict[str, str] = {}
    for location, params in split_parameters(root):
        zones.setdefault(location, params.get("timezone", "UTC"))
    return zones


def tracklet_fingerprints(crops: pd.DataFrame, key: pd.Series | None = None) -> pd.Series:
    """Per tracklet (or per ``key``: a unit of a split tracklet), a hash of its crops (video,
    frame, box): labels made on one tracklet must not silently attach to a different one after a
    rerun of the pipeline reuses its id."""
    key = crops["tracklet_id"] if key is None else key
    keys = crops["video_id"] + "|" + crops["frame_index"].astype(str)
    for column in BOX_COLUMNS:
        keys = keys + "|" + crops[column].round(1).astype(str)
    ordered = pd.DataFrame({"unit": key.to_numpy(), "key": keys.to_numpy()}).sort_values(
        ["unit", "key"]
    )
    return ordered.groupby("unit")["key"].agg(lambda k: sha256_bytes("\n".join(k).encode())[:16])


TABLE_COLUMNS = [
    "location",
    "camera",
    "split",
    "video_id",
    "start",
    "end",
    "n_crops",
    "first_frame",
    "last_frame",
    "representative",
    "fingerprint",
]


def describe(crops: pd.DataFrame, key: pd.Series) -> pd.DataFrame:
    """One row per value of ``key`` (a tracklet id, or a unit key): location, camera, split, video,
    start, end (UTC), crops, first and last frame, largest crop, fingerprint."""
    if crops.empty:
        return pd.DataFrame(columns=TABLE_COLUMNS)
    crops = crops.assign(_key=key.to_numpy())
    area = (crops["x2"] - crops["x1"]) * (crops["y2"] - crops["y1"])
    largest = (
        crops.assign(area=area)
        .sort_values(["_key", "area", "frame_index"], ascending=[True, False, True])
        .groupby("_key")
        .head(1)
    )
    grouped = crops.groupby("_key")
    table = pd.DataFrame(
        {
            "location": grouped["location"].first(),
            "camera": grouped["camera"].first(),
            "split": grouped["split"].first(),
            "video_id": grouped["video_id"].first(),
            "start": grouped["timestamp"].min(),
            "end": grouped["timestamp"].max(),
            "n_crops": grouped.size(),
            "first_frame": grouped["frame_index"].min(),
            "last_frame": grouped["frame_index"].max(),
            "representative": largest.set_index("_key")["crop_path"],
        }
    )
    table["fingerprint"] = tracklet_fingerprints(crops, crops["_key"])
    return table.rename_axis(None)


def tracklet_table(crops: pd.DataFrame) -> pd.DataFrame:
    """One row per tracklet (index: tracklet id), by location, camera and start; the columns of
    ``describe``."""
    table = describe(crops, crops["tracklet_id"]).rename_axis("tracklet_id")
    return (
        table.reset_index()
        .sort_values(["location", "camera", "start", "tracklet_id"])
        .set_index("tracklet_id")
    )
