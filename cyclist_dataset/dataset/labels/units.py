"""Label units: what one label is attached to.

A unit is a tracklet, or a part of one when an annotator split it where the tracker switched from
one person to another (first and last frame, inclusive). Every label row (``schemas.LABELS``) is a
unit with its status and identity, anchored to the footage: video, frames, time span, crop count,
a fingerprint of its crops, and in ``anchors`` the crops' boxes themselves, so that a rerun that
renumbers tracklets can carry the label on (``carry``).
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from cyclist_dataset.core import schemas
from cyclist_dataset.core.geometry import BOX_COLUMNS
from cyclist_dataset.dataset.labels.tracklets import describe

PERSON, JUNK, UNSURE, UNLABELLED = "person", "junk", "unsure", "unlabelled"
STATUSES = (PERSON, JUNK, UNSURE, UNLABELLED)
# Left out of the test data: junk is not a person; an unsure unit may show a labelled person, and as
# a distractor it would count a right match as wrong.
EXCLUDED = (JUNK, UNSURE)
# A file row that leaves a whole tracklet empty: it clears the tracklet's labels (never stored).
CLEARED = "none"
# Words that are statuses, not names: an identity may not be one of them (any case).
RESERVED = frozenset({*STATUSES, CLEARED})
# The last frame of a span that runs to the tracklet's end, whatever its frames.
TO_THE_END = 2**62
SPAN = ["tracklet_id", "first_frame", "last_frame"]
UNIT = ["tracklet_id", "first_frame"]


# A name annotators give: letters, digits, _ . - (starting with a letter or digit).
IDENTITY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def unit_key(tracklet_id: str, first_frame: int) -> str:
    return f"{tracklet_id}@{int(first_frame)}"


def unit_keys(frame: pd.DataFrame) -> pd.Series:
    """``unit_key`` of every row of a frame with tracklet_id and first_frame."""
    return frame["tracklet_id"] + "@" + frame["first_frame"].astype(str)


def label_of(status: str, identity: str | None) -> str:
    """A unit's label in one word: its identity, or its status."""
    return str(identity) if status == PERSON else status


def name_problem(identity: str) -> str | None:
    """Why ``identity`` cannot be a name (None: it can)."""
    if identity.casefold() in RESERVED:
        return (
            f"identity {identity!r} is a reserved word ({', '.join(sorted(RESERVED))} are not "
            "names); use another"
        )
    if not IDENTITY_RE.match(identity):
        return (
            f"identity {identity!r} is malformed; use letters, digits, _ . - (starting with a "
            "letter or digit)"
        )
    return None


def empty_units() -> pd.DataFrame:
    return schemas.LABELS.empty_table().to_pandas()


def without_bare_unlabelled(units: pd.DataFrame) -> pd.DataFrame:
    """The units but the "unlabelled" rows of whole tracklets: such a row says nothing (only the
    unlabelled parts of a split tracklet are kept, to keep the split)."""
    parts = units.groupby("tracklet_id")["first_frame"].transform("size")
    return units[(units["status"] != UNLABELLED) | (parts > 1)].reset_index(drop=True)


def assign(crops: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """The crops that lie in a span (a unit), with the span's columns; each crop at most once
    (spans of one tracklet do not overlap)."""
    joined = crops.merge(spans, on="tracklet_id", how="inner", suffixes=("", "_unit"))
    inside = (joined["frame_index"] >= joined["first_frame"]) & (
        joined["frame_index"] <= joined["last_frame"]
    )
    return joined[inside].reset_index(drop=True)


def uncovered(frames: np.ndarray, spans: list[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """The runs of a tracklet's crop frames (sorted) that no span (first, last) holds: (first
    frame, last frame, crops) each. The parts of a split tracklet always cover all its crops (the
    runs become unlabelled parts), so that a crop outside them means the tracklet has grown."""
    edges = [int(frames[0]) - 1, *(x for span in sorted(spans) for x in span), int(frames[-1]) + 1]
    found = []
    for after, before in zip(edges[0::2], edges[1::2], strict=True):
        run = frames[(frames > after) & (frames < before)]
        if len(run):
            found.append((int(run.min()), int(run.max()), len(run)))
    return found


def describe_spans(crops: pd.DataFrame, spans: pd.DataFrame) -> pd.DataFrame:
    """``spans`` (tracklet_id, first_frame, last_frame, any other columns) with what the crops say
    of each: location, camera, video, start, end, crops, fingerprint, representative crop. The
    span keeps its own first and last frame; a span without crops gets n_crops 0."""
    spans = spans.reset_index(drop=True)
    inside = assign(crops, spans[SPAN])
    table = describe(inside, unit_keys(inside)).drop(columns=["first_frame", "last_frame"])
    described = table.reindex(unit_keys(spans).to_numpy()).reset_index(drop=True)
    out = spans.drop(columns=[c for c in described.columns if c in spans.columns]).join(described)
    out["n_crops"] = out["n_crops"].fillna(0).astype("int64")
    out["fingerprint"] = out["fingerprint"].fillna("")
    return out


def whole(tracklets: pd.DataFrame) -> pd.DataFrame:
    """One unit per tracklet of a ``tracklet_table``: the whole tracklet."""
    return pd.DataFrame(
        {
            "tracklet_id": tracklets.index.to_numpy(),
            "first_frame": tracklets["first_frame"].to_numpy().astype("int64"),
            "last_frame": tracklets["last_frame"].to_numpy().astype("int64"),
        }
    )


def anchors(crops: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """The boxes of each unit's crops (``schemas.LABEL_ANCHORS``)."""
    inside = assign(crops, units[SPAN])
    return inside[["tracklet_id", "first_frame", "video_id", "frame_index", *BOX_COLUMNS]]


def label_crops(crops: pd.DataFrame, units: pd.DataFrame) -> pd.DataFrame:
    """``crops`` with each crop's unit (``unit_id``: the tracklet id, or "<tracklet>@<first frame>"
    for a part of a split tracklet), ``status`` and ``identity`` (null where no label covers it)."""
    if units.empty:
        return crops.assign(unit_id=crops["tracklet_id"], status=None, identity=None)
    split = units.groupby("tracklet_id").size() > 1
    inside = assign(
        crops[["crop_path", "tracklet_id", "frame_index"]],
        units[[*SPAN, "status", "identity"]],
    )
    parted = inside["tracklet_id"].map(split).fillna(False).astype(bool)
    inside["unit_id"] = inside["tracklet_id"].where(~parted, unit_keys(inside))
    out = crops.merge(
        inside[["crop_path", "unit_id", "status", "identity"]], on="crop_path", how="left"
    )
    out["unit_id"] = out["unit_id"].fillna(out["tracklet_id"])
    out.loc[out["status"] == UNLABELLED, ["status", "identity"]] = None
    return out


def display(tracklet_id: str, first_frame: int, last_frame: int, whole_: bool) -> str:
    """How messages name a unit: the tracklet, and its frames when it is a part."""
    return tracklet_id if whole_ else f"{tracklet_id} (frames {first_frame}-{last_frame})"
