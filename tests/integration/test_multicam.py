"""End to end on real footage: four synchronised cameras of one room (pipelines/multicam_lab.toml).

The pipeline's tracklets are exported as a labelling package; tests/fixtures/multicam_labels.csv
holds the labels made by eye (two people walk around the room: p1 and p2; one tracklet switches
people and is split), imported as a label version, released and pulled as Market-1501. When a
tracker change makes the file stale, the import says so; the fixture is then repaired with the
tool's own carry-over (`labels carry`, see the file's header), never with test-only logic.
"""

from __future__ import annotations

import csv
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from support import MULTICAM, REPO, cli
from torchreid_parsers import market_process_dir

import cyclist_dataset
from cyclist_dataset.dataset.labels import (
    export_package,
    get_version,
    import_labels,
    list_versions,
    read_crops,
)
from cyclist_dataset.dataset.labels.carry import carry
from cyclist_dataset.dataset.pull import pull
from cyclist_dataset.dataset.release import create_release, verify_release
from cyclist_dataset.errors import UserError

LABELS = REPO / "tests" / "fixtures" / "multicam_labels.csv"
CAMERAS = ["cam0", "cam1", "cam2", "cam3"]


@pytest.fixture(scope="module")
def workspace(multicam_run) -> Path:
    return multicam_run[0].workspace


def crops_of_row(crops: pd.DataFrame, row: dict[str, str]) -> pd.DataFrame:
    """The crops a label row names (a part of a split tracklet: its frames), with its identity."""
    mine = crops[crops["tracklet_id"] == row["tracklet_id"]]
    if row["frames"]:
        first, last = map(int, row["frames"].split("-"))
        mine = mine[mine["frame_index"].between(first, last)]
    return mine.assign(identity=row["identity"])


def fixture_rows() -> list[dict[str, str]]:
    lines = [
        line for line in LABELS.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
    ]
    return list(csv.DictReader(lines))


def test_all_footage_is_validation_and_no_tracklet_is_in_two_splits(workspace):
    crops = pd.read_parquet(workspace / "manifests" / "crops")
    assert set(crops["camera"]) == set(CAMERAS)
    assert set(crops["split"]) == {"validation"}
    assert (crops.groupby("tracklet_id")["split"].nunique() == 1).all()


def test_export_gives_a_package_of_every_tracklet(workspace, tmp_path):
    package = tmp_path / "package"
    summary = export_package(workspace, "multicam_lab", package)
    crops = pd.read_parquet(workspace / "manifests" / "crops")
    assert summary.cameras == 4 and summary.tracklets == crops["tracklet_id"].nunique()
    lines = (package / "labels.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "# label version: none"
    exported = list(csv.DictReader(lines[1:]))
    # by camera, then time
    assert [r["tracklet_id"] for r in exported] == sorted(crops["tracklet_id"].unique())
    for row in exported:
        assert (package / "sheets" / f"{row['tracklet_id']}.png").is_file()
        assert (package / row["representative_crop"]).is_file() and row["identity"] == ""


@pytest.fixture
def labelled_here(workspace) -> Iterator[Path]:
    """The shared workspace, its labels and releases removed afterwards, pass or fail: the other
    tests (and the browser test's copy of this session's workspace) start unlabelled."""
    yield workspace
    for made in ("labels", "releases"):
        shutil.rmtree(workspace / made, ignore_errors=True)


def test_labels_import_release_and_pull(labelled_here, tmp_path):
    workspace = labelled_here
    rows = fixture_rows()
    people = [r for r in rows if r["identity"] not in ("", "junk", "unsure")]
    assert len(people) >= 15 and {r["identity"] for r in people} == {"p1", "p2"}
    # One room seen by four cameras: the same person is at several cameras at once, which the
    # pipeline file allows (overlapping_views); overriding it shows what an import then refuses.
    with pytest.raises(UserError, match=r"multicam_labels\.csv:\d+: identity 'p[12]' is at cam\d"):
        import_labels(workspace, LABELS, overlapping_views=False)
    assert list_versions(workspace) == []
    version = import_labels(workspace, LABELS, by="eye")
    assert version.name == "v0001" and version.meta["identities"] == 2
    assert version.meta["labelled_tracklets"] == len(people)
    split = {r["tracklet_id"] for r in rows if r["frames"]}
    assert version.meta["split_tracklets"] == len(split) >= 2 and version.meta["unsure"] == 1
    assert version.meta["junk"] == 2

    release = create_release(workspace, "lab-1")
    assert verify_release(release)[1] == []
    test = cyclist_dataset.load_split(release, "test")
    identities = (
        test[test["pid"] > 0].groupby("identity")["camera"].agg(lambda c: sorted(set(c))).to_dict()
    )
    assert identities == {"multicam_lab/p1": CAMERAS, "multicam_lab/p2": CAMERAS}
    # every crop carries the label of its row (a part of a split tracklet: its frames)
    crops = read_crops(workspace)
    for row in rows:
        released = test[test["crop_path"].isin(crops_of_row(crops, row)["crop_path"])]
        if row["identity"] in ("unsure", "junk"):
            assert released.empty  # left out of the test data
        elif row["identity"]:
            assert len(released) == int(row["n_crops"])
            assert set(released["identity"]) == {f"multicam_lab/{row['identity']}"}
        else:
            assert len(released) == int(row["n_crops"]) and set(released["pid"]) == {0}
    # the parts of a split tracklet are tracklets of their own in the release
    assert {"multicam_lab_cam0_t0001@40", "multicam_lab_cam2_t0002@255"} <= set(test["tracklet_id"])
    query = cyclist_dataset.load_split(release, "query")
    assert sorted(zip(query["identity"], query["camera"], strict=False)) == [
        (f"multicam_lab/{p}", c) for p in ("p1", "p2") for c in CAMERAS
    ]
    # all footage is validation: no training data, and reading it says why instead of an empty table
    assert cyclist_dataset.load_split(release, "train", allow_empty=True).empty
    with pytest.raises(UserError, match="the train split is empty"):
        cyclist_dataset.load_split(release, "train")
    card = (release / "README.md").read_text()
    assert "| multicam_lab | 2 | " in card and "Label version **v0001**" in card

    market = tmp_path / "market"
    pull(release, "test", market, "market1501")
    queries = market_process_dir(market / "query")
    assert sorted((pid, camid) for _, pid, camid in queries) == [
        (p, c) for p in (1, 2) for c in range(4)
    ]
    assert len(market_process_dir(market / "bounding_box_test")) == len(test) - len(query)
    # importing the same file again changes nothing and makes no version
    assert not import_labels(workspace, LABELS, by="eye").created


def test_a_rerun_with_other_parameters_carries_the_labels_and_reports_the_rest(workspace, tmp_path):
    """Labels made, then the pipeline rerun with a longer minimum tracklet (8 s instead of 3 s):
    `run` says the labels no longer match, `labels carry` moves them to the new tracklets and
    reports the labels of the tracklets that are gone."""
    copy = tmp_path / "workspace"
    shutil.copytree(workspace, copy)
    import_labels(copy, LABELS, by="eye")
    before = read_crops(copy)
    pipeline = tmp_path / "multicam_lab.toml"
    text = MULTICAM.read_text(encoding="utf-8")
    assert "min_pickup_s = 3.0" in text
    pipeline.write_text(
        text.replace("min_pickup_s = 3.0", "min_pickup_s = 8.0").replace(
            'roi_dir = "../roi_definitions"', f'roi_dir = "{REPO / "roi_definitions"}"'
        ),
        encoding="utf-8",
    )
    run = cli("run", str(pipeline), "--workspace", str(copy))
    assert run.returncode == 0, run.stderr
    assert "label version v0001:" in run.stderr and "labels carry" in run.stderr
    # all of the lab's footage is validation: the run's summary says what that means for training
    assert "WARNING: location 'multicam_lab' contributes no train crops" in run.stderr
    with pytest.raises(UserError, match="labels carry"):
        create_release(copy, "stale")

    carried = cli("labels", "carry", str(copy))
    assert carried.returncode == 0, carried.stderr + carried.stdout
    version = get_version(copy, None)
    assert version.name == "v0002" and version.meta["source"] == "carry"
    report = carry(
        get_version(copy, "v0001").labels, get_version(copy, "v0001").anchors, read_crops(copy)
    ).report  # what the command reported, again
    # Tracklets shorter than 8 s are gone: their labels are lost, and said so.
    short = [
        r
        for r in fixture_rows()
        if r["identity"] in ("p1", "p2")
        and not r["frames"]
        and before.loc[before["tracklet_id"] == r["tracklet_id"], "timestamp"].agg(
            lambda t: (t.max() - t.min()).total_seconds()
        )
        < 8.0
    ]
    assert short, "the fixture has labelled tracklets shorter than 8 s"
    lost = {item["unit"].split("@")[0] for item in report.lost}
    assert {r["tracklet_id"] for r in short} <= lost
    for item in report.lost:
        assert item["unit"].split("@")[0] in carried.stdout
    # every carried label sits on crops that had that label before (same video, frame, box)
    after = read_crops(copy)
    labels = version.labels
    people = labels[labels["status"] == "person"]
    assert len(people) >= 10
    labelled_before = pd.concat([crops_of_row(before, r) for r in fixture_rows() if r["identity"]])
    key = ["video_id", "frame_index", "x1", "y1", "x2", "y2"]
    for unit in people.itertuples():
        mine = after[
            (after["tracklet_id"] == unit.tracklet_id)
            & after["frame_index"].between(unit.first_frame, unit.last_frame)
        ]
        matched = mine[key].merge(labelled_before[[*key, "identity"]], on=key)
        assert len(matched) == len(mine), unit.tracklet_id
        assert set(matched["identity"]) == {unit.identity}, unit.tracklet_id
    assert create_release(copy, "carried").is_dir()
