"""Labels carried to the tracklets of a rerun (synthetic): renumbered, reshaped, split, merged,
interleaved and lost tracklets; and the candidates' time term from a camera layout."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError
from synthetic_workspace import T0, Tracklet, make_workspace

from cyclist_dataset.core.config import TravelConfig
from cyclist_dataset.dataset.labels import Session, import_labels, read_crops
from cyclist_dataset.dataset.labels.carry import carry
from cyclist_dataset.dataset.labels.units import anchors


def labels_on(crops: pd.DataFrame, rows: list[tuple[str, int, int, str]]) -> tuple:
    """A label table (tracklet, first frame, last frame, label) and its anchors on ``crops``."""
    labels = pd.DataFrame(
        [
            {
                "tracklet_id": t,
                "location": "l",
                "first_frame": first,
                "last_frame": last,
                "status": label if label in ("junk", "unsure") else "person",
                "identity": None if label in ("junk", "unsure") else label,
            }
            for t, first, last, label in rows
        ]
    )
    return labels, anchors(crops, labels)


@pytest.fixture
def old(tmp_path: Path) -> pd.DataFrame:
    """Two tracklets at one camera, 10 crops each, one after the other."""
    ws = make_workspace(
        tmp_path / "old",
        [
            Tracklet("l_A_t0001", "A", T0, n=10, location="l"),
            Tracklet("l_A_t0002", "A", T0 + timedelta(seconds=5), n=10, location="l"),
        ],
    )
    return read_crops(ws)


def frames(crops: pd.DataFrame, tracklet_id: str) -> list[int]:
    return sorted(crops.loc[crops["tracklet_id"] == tracklet_id, "frame_index"])


def renamed(crops: pd.DataFrame, mapping: dict[str, str]) -> pd.DataFrame:
    return crops.assign(tracklet_id=crops["tracklet_id"].map(lambda t: mapping.get(t, t)))


def summary(units: pd.DataFrame) -> list[tuple]:
    return [
        (
            r.tracklet_id,
            r.first_frame,
            r.last_frame,
            r.status,
            r.identity if isinstance(r.identity, str) else "",
        )
        for r in units.sort_values(["tracklet_id", "first_frame"]).itertuples()
    ]


def test_renumbered_tracklets_keep_their_labels(old):
    f1, f2 = frames(old, "l_A_t0001"), frames(old, "l_A_t0002")
    labels, boxes = labels_on(
        old, [("l_A_t0001", f1[0], f1[-1], "p1"), ("l_A_t0002", f2[0], f2[-1], "junk")]
    )
    new = renamed(old, {"l_A_t0001": "l_A_t0007", "l_A_t0002": "l_A_t0009"})
    result = carry(labels, boxes, new)
    assert summary(result.units) == [
        ("l_A_t0007", f1[0], f1[-1], "person", "p1"),
        ("l_A_t0009", f2[0], f2[-1], "junk", ""),
    ]
    assert len(result.report.carried) == 2 and not result.report.review and not result.report.lost


def test_two_labelled_tracklets_joined_into_one_are_split_at_the_switch(old):
    f1, f2 = frames(old, "l_A_t0001"), frames(old, "l_A_t0002")
    labels, boxes = labels_on(
        old, [("l_A_t0001", f1[0], f1[-1], "p1"), ("l_A_t0002", f2[0], f2[-1], "p2")]
    )
    result = carry(labels, boxes, renamed(old, {"l_A_t0002": "l_A_t0001"}))
    assert summary(result.units) == [
        ("l_A_t0001", f1[0], f1[-1], "person", "p1"),
        ("l_A_t0001", f2[0], f2[-1], "person", "p2"),
    ]


def test_one_identity_over_two_tracklets_joined_is_merged(old):
    f1, f2 = frames(old, "l_A_t0001"), frames(old, "l_A_t0002")
    labels, boxes = labels_on(
        old, [("l_A_t0001", f1[0], f1[-1], "p1"), ("l_A_t0002", f2[0], f2[-1], "p1")]
    )
    result = carry(labels, boxes, renamed(old, {"l_A_t0002": "l_A_t0001"}))
    assert summary(result.units) == [("l_A_t0001", f1[0], f2[-1], "person", "p1")]
    assert result.report.merged[0]["from"] == [f"l_A_t0001@{f1[0]}", f"l_A_t0002@{f2[0]}"]


def test_a_tracklet_cut_in_two_carries_its_label_to_both_parts(old):
    f1 = frames(old, "l_A_t0001")
    labels, boxes = labels_on(old, [("l_A_t0001", f1[0], f1[-1], "p1")])
    cut = old.copy()
    cut.loc[(cut["tracklet_id"] == "l_A_t0001") & (cut["frame_index"] >= f1[5]), "tracklet_id"] = (
        "l_A_t0005"
    )
    result = carry(labels, boxes, cut)
    assert [(u[0], u[4]) for u in summary(result.units)] == [
        ("l_A_t0001", "p1"),
        ("l_A_t0005", "p1"),
    ]
    assert result.report.split == [
        {
            "from": f"l_A_t0001@{f1[0]}",
            "to": [f"l_A_t0001@{f1[0]}", f"l_A_t0005@{f1[5]}"],
            "label": "p1",
        }
    ]


def test_interleaved_labels_and_unlabelled_ends_go_to_review(old):
    f1 = frames(old, "l_A_t0001")
    labels, boxes = labels_on(
        old, [("l_A_t0001", f1[0], f1[4], "p1"), ("l_A_t0001", f1[5], f1[-1], "p2")]
    )
    # as if every other crop had been labelled p2: no cut can separate the two
    every_other = boxes["frame_index"].isin(f1[::2])
    boxes["first_frame"] = boxes["first_frame"].where(~every_other, f1[5]).where(every_other, f1[0])
    result = carry(labels, boxes, old)
    assert "l_A_t0001" not in set(result.units["tracklet_id"])
    [review] = result.report.review
    assert review["tracklet_id"] == "l_A_t0001" and "interleave" in review["why"]
    # a rerun whose tracklet runs 3 crops longer than what was labelled: those 3 are split off
    f2 = frames(old, "l_A_t0002")
    labels, boxes = labels_on(old, [("l_A_t0002", f2[3], f2[-1], "p3")])
    result = carry(labels, boxes[boxes["frame_index"] >= f2[3]], old)
    assert summary(result.units) == [
        ("l_A_t0002", f2[0], f2[2], "unlabelled", ""),
        ("l_A_t0002", f2[3], f2[-1], "person", "p3"),
    ]
    assert "3 crops" in result.report.review[0]["why"]


def test_a_label_whose_crops_are_gone_is_lost(old):
    f1 = frames(old, "l_A_t0001")
    labels, boxes = labels_on(old, [("l_A_t0001", f1[0], f1[-1], "p1")])
    result = carry(labels, boxes, old[old["tracklet_id"] != "l_A_t0001"])
    assert result.units.empty and result.report.lost[0]["unit"] == f"l_A_t0001@{f1[0]}"
    # moved boxes (IoU < 0.5) are not the same detections
    moved = old.assign(x1=old["x1"] + 40, x2=old["x2"] + 40)
    assert carry(labels, boxes, moved).report.lost


def test_travel_times_of_the_layout_rank_candidates(tmp_path):
    """With a travel time of 60 s between A and B, a tracklet at B one minute after the one at A
    is the better candidate; without a layout, the nearer one in time is."""
    ws = make_workspace(
        tmp_path / "ws",
        [
            Tracklet("l_A_t0001", "A", T0, location="l"),
            Tracklet("l_B_t0001", "B", T0 + timedelta(seconds=10), location="l"),
            Tracklet("l_B_t0002", "B", T0 + timedelta(seconds=62), location="l"),
        ],
    )
    first = Session(ws, "l", "a").tracklet("l_A_t0001")["candidates"]["B"]
    assert [c["tracklet_id"] for c in first] == ["l_B_t0001", "l_B_t0002"]
    (ws / "locations").mkdir()
    (ws / "locations" / "l.json").write_text(
        '{"travel": [{"cameras": ["A", "B"], "seconds": 60, "tolerance_s": 10}]}'
    )
    second = Session(ws, "l", "a").tracklet("l_A_t0001")["candidates"]["B"]
    assert [c["tracklet_id"] for c in second] == ["l_B_t0002", "l_B_t0001"]
    assert second[0]["time"] > 0.9 > 0.5 > second[1]["time"]


def test_the_travel_section_is_checked():
    assert TravelConfig(cameras=("A", "B"), distance_m=90).expected_s == pytest.approx(20.0)
    with pytest.raises(ValidationError, match="exactly one of"):
        TravelConfig(cameras=("A", "B"), seconds=10, distance_m=90)
    with pytest.raises(ValidationError, match="to itself"):
        TravelConfig(cameras=("A", "A"), seconds=10)


def test_a_junk_or_unsure_candidate_is_not_matched_blindly(tmp_path):
    ws = make_workspace(
        tmp_path / "ws",
        [
            Tracklet("l_A_t0001", "A", T0, location="l"),
            Tracklet("l_B_t0001", "B", T0 + timedelta(seconds=10), location="l"),
        ],
    )
    source = tmp_path / "l.csv"
    source.write_text("tracklet_id,identity\nl_B_t0001,junk\n")
    import_labels(ws, source)
    session = Session(ws, "l", "a")
    with pytest.raises(Exception, match="marked junk"):
        session.act({"op": "same", "tracklet_id": "l_A_t0001", "other": "l_B_t0001"})
