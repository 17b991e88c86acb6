"""What a workspace holds: the summary table `run` ends with."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from cyclist_dataset.core.empty_splits import empty_parts
from cyclist_dataset.io.workspace import Workspace
from cyclist_dataset.stages.filter import DROP_REASONS

MANIFESTS = ("videos", "detections", "tracklets", "tracklet_summary", "crops")


def _read(workspace: Workspace, name: str, columns: list[str]) -> pd.DataFrame:
    folder = workspace.manifest(name)
    if not folder.is_dir() or not any(folder.glob("*.parquet")):
        return pd.DataFrame(columns=columns)
    return pd.read_parquet(folder, columns=columns)


def summary(root: Path) -> pd.DataFrame:
    """One row per video plus a total: frames, boxes detected and kept, tracklets, crops per
    split."""
    workspace = Workspace(root)
    videos = _read(workspace, "videos", ["video_id", "camera", "frame_count"]).set_index("video_id")
    detections = _read(workspace, "detections", ["video_id", "kept"])
    tracklets = _read(workspace, "tracklets", ["video_id", "tracklet_id"])
    crops = _read(workspace, "crops", ["video_id", "split"])
    table = pd.DataFrame(index=videos.index)
    table["camera"] = videos["camera"]
    table["frames"] = videos["frame_count"]
    table["detections"] = detections.groupby("video_id").size()
    table["kept"] = detections.groupby("video_id")["kept"].sum()
    table["tracklets"] = tracklets.groupby("video_id")["tracklet_id"].nunique()
    for part in ("train", "validation"):
        table[f"crops_{part}"] = crops[crops["split"] == part].groupby("video_id").size()
    numeric = table.columns.drop("camera")
    table[numeric] = table[numeric].fillna(0).astype(int)
    total = table[numeric].sum()
    table.loc["TOTAL"] = {"camera": f"{table['camera'].nunique()} camera(s)", **total.to_dict()}
    return table


def split_warnings(root: Path) -> list[str]:
    """Locations that contribute no train or no validation crops (``core.empty_splits``)."""
    return empty_parts(_read(Workspace(root), "crops", ["location", "split"]))


def drops(root: Path) -> pd.DataFrame:
    """Per video, how many detected boxes each filter rule dropped (the first rule a box fails)."""
    detections = _read(Workspace(root), "detections", ["video_id", "drop_reason"])
    counts = detections.groupby(["video_id", "drop_reason"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(DROP_REASONS), fill_value=0)
    counts.loc["TOTAL"] = counts.sum()
    return counts


def where_outputs_are(root: Path, report: Path | None = None) -> str:
    """The workspace's folders, and the run report's page when one was written."""
    workspace = Workspace(root)
    lines = [f"workspace: {root}", f"  {'crop images:':<18}{root / 'crops'}"]
    if report is not None:
        lines.append(f"  {'run report:':<18}{report}")
    lines.append("manifests (read each folder with pandas.read_parquet):")
    for name in MANIFESTS:
        lines.append(f"  {name + ':':<18}{workspace.manifest(name)}")
    return "\n".join(lines)
