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


def tracklet_fingerprints(crops: pd.DataFrame) -> pd.Series:
    """Per tracklet, a hash of its crops (video, frame, box): labels made on one tracklet must not
    silently attach to a different one after a rerun of the pipeline reuses its id."""
    keys = crops["video_id"] + "|" + crops["frame_index"].astype(str)
    for column in BOX_COLUMNS:
        keys = keys + "|" + crops[column].round(1).astype(str)
    ordered = pd.DataFrame({"tracklet_id": crops["tracklet_id"], "key": keys}).sort_values(
        ["tracklet_id", "key"]
    )
    return ordered.groupby("tracklet_id")["key"].agg(
        lambda k: sha256_bytes("\n".join(k).encode())[:16]
    )


def tracklet_table(crops: pd.DataFrame) -> pd.DataFrame:
    """One row per tracklet: location, camera, split, start, end (UTC), crops, largest crop,
    fingerprint."""
    if crops.empty:
        return pd.DataFrame(
            columns=[
                "location",
                "camera",
                "split",
                "video_id",
                "start",
                "end",
                "n_crops",
                "representative",
                "fingerprint",
            ]
        )
    area = (crops["x2"] - crops["x1"]) * (crops["y2"] - crops["y1"])
    largest = (
        crops.assign(area=area)
        .sort_values(["tracklet_id", "area", "frame_index"], ascending=[True, False, True])
        .groupby("tracklet_id")
        .head(1)
    )
    grouped = crops.groupby("tracklet_id")
    table = pd.DataFrame(
        {
            "location": grouped["location"].first(),
            "camera": grouped["camera"].first(),
            "split": grouped["split"].first(),
            "video_id": grouped["video_id"].first(),
            "start": grouped["timestamp"].min(),
            "end": grouped["timestamp"].max(),
            "n_crops": grouped.size(),
            "representative": largest.set_index("tracklet_id")["crop_path"],
        }
    )
    table["fingerprint"] = tracklet_fingerprints(crops)
    table = table.rename_axis("tracklet_id").reset_index()
    return table.sort_values(["location", "camera", "start", "tracklet_id"]).set_index(
        "tracklet_id"
    )
