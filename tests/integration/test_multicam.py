"""End to end on real footage: four synchronised cameras of one room (pipelines/multicam_lab.toml).

The pipeline's tracklets are exported as a labelling package; tests/fixtures/multicam_labels.csv
was filled by looking at that package's contact sheets (two people walk around the room: p1 and
p2), imported as a label version, released and pulled as Market-1501.

The labels name tracklets, and tracker changes renumber and reshape tracklets. So that the eye's
labels survive them, tests/fixtures/multicam_tracklets.csv keeps the crops (camera, frame, box) of
the labelled tracklets, and the label file is carried over to the current tracklets through those
crops before it is imported (unchanged tracklets: the same file).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from support import REPO
from torchreid_parsers import market_process_dir

import cyclist_dataset
from cyclist_dataset.core import schemas
from cyclist_dataset.dataset.labels import export_package, import_labels, list_versions
from cyclist_dataset.dataset.pull import pull
from cyclist_dataset.dataset.release import create_release, verify_release
from cyclist_dataset.errors import UserError

LABELS = REPO / "tests" / "fixtures" / "multicam_labels.csv"
LABELLED_CROPS = REPO / "tests" / "fixtures" / "multicam_tracklets.csv"
CAMERAS = ["cam0", "cam1", "cam2", "cam3"]


@pytest.fixture(scope="module")
def workspace(multicam_run) -> Path:
    return multicam_run[0].workspace


def fixture_rows() -> list[dict[str, str]]:
    lines = [
        line for line in LABELS.read_text(encoding="utf-8").splitlines() if not line.startswith("#")
    ]
    return list(csv.DictReader(lines))


def _iou(a: pd.DataFrame, b: pd.DataFrame) -> pd.Series:
    w = (
        pd.concat([a["x2"], b["x2"]], axis=1).min(axis=1)
        - pd.concat([a["x1"], b["x1"]], axis=1).max(axis=1)
    ).clip(0)
    h = (
        pd.concat([a["y2"], b["y2"]], axis=1).min(axis=1)
        - pd.concat([a["y1"], b["y1"]], axis=1).max(axis=1)
    ).clip(0)
    area = lambda f: (f["x2"] - f["x1"]) * (f["y2"] - f["y1"])  # noqa: E731
    return w * h / (area(a) + area(b) - w * h)


def carried_labels(workspace: Path, out: Path) -> tuple[Path, float]:
    """The fixture's labels moved onto the workspace's current tracklets; and the share of the
    labelled crops that the current tracklets still hold (same camera and frame, box IoU >= 0.5).

    A current tracklet takes an identity when most (>= 80%) of its crops that match a labelled
    crop match that identity's crops, and they are at least half of its crops.
    """
    identity = {r["tracklet_id"]: r["identity"] for r in fixture_rows()}
    old = pd.read_csv(LABELLED_CROPS, comment="#")
    old["identity"] = old["tracklet_id"].map(identity).fillna("")
    new = pd.read_parquet(workspace / "manifests" / "crops")
    pairs = new.merge(old, on=["camera", "frame_index"], suffixes=("", "_old"))
    boxes_old = pairs[["x1_old", "y1_old", "x2_old", "y2_old"]].set_axis(
        ["x1", "y1", "x2", "y2"], axis=1
    )
    pairs = pairs[_iou(pairs, boxes_old) >= 0.5].drop_duplicates(["crop_path"])
    labelled_old = old[old["identity"] != ""]
    kept = (
        pairs[pairs["identity"] != ""]
        .merge(
            labelled_old,
            left_on=["tracklet_id_old", "frame_index"],
            right_on=["tracklet_id", "frame_index"],
        )
        .shape[0]
    )
    carried = {}
    sizes = new.groupby("tracklet_id").size()
    for tracklet_id, matched in pairs.groupby("tracklet_id"):
        votes = matched["identity"].value_counts()
        top = votes.index[0]
        if top and votes.iloc[0] >= 0.8 * len(matched) and len(matched) >= 0.5 * sizes[tracklet_id]:
            carried[tracklet_id] = top
    tracklets = new.groupby("tracklet_id")[["location", "camera"]].first()
    lines = [
        "# carried over from tests/fixtures/multicam_labels.csv through the labelled crops",
        "location,camera,tracklet_id,identity",
    ]
    lines += [f"{r.location},{r.camera},{t},{carried.get(t, '')}" for t, r in tracklets.iterrows()]
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out, kept / len(labelled_old)


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
    exported = list(csv.DictReader((package / "labels.csv").open(encoding="utf-8")))
    # by camera, then time
    assert [r["tracklet_id"] for r in exported] == sorted(crops["tracklet_id"].unique())
    for row in exported:
        assert (package / "sheets" / f"{row['tracklet_id']}.png").is_file()
        assert (package / row["representative_crop"]).is_file() and row["identity"] == ""
    # The eye's labels were made on this package (as the pipeline made it then): the current
    # tracklets still hold nearly all of the labelled crops, or the fixture needs relabelling.
    _, share = carried_labels(workspace, tmp_path / "labels.csv")
    assert share >= 0.9, (
        f"only {share:.0%} of the labelled crops are still made; relabel the fixture"
    )


def test_labels_import_release_and_pull(workspace, tmp_path):
    labels, _ = carried_labels(workspace, tmp_path / "labels.csv")
    expected = {
        r["tracklet_id"]: r["identity"] or None
        for r in csv.DictReader(
            line for line in labels.read_text().splitlines() if not line.startswith("#")
        )
    }
    assert sum(i is not None for i in expected.values()) >= 15
    # One room seen by four cameras: the same person is at several cameras at once, which an import
    # refuses unless told the views overlap.
    with pytest.raises(
        UserError, match=r"labels\.csv:\d+: identity 'p[12]' is at cam\d .* overlapping times"
    ):
        import_labels(workspace, labels)
    assert list_versions(workspace) == []
    version = import_labels(workspace, labels, by="eye", overlapping_views=True)
    assert version.name == "v0001" and version.meta["identities"] == 2
    assert version.meta["labelled_tracklets"] == sum(i is not None for i in expected.values())
    assert version.meta["unlabelled_validation_tracklets"] == sum(
        i is None for i in expected.values()
    )

    release = create_release(workspace, "lab-1")
    assert verify_release(release)[1] == []
    test = cyclist_dataset.load_split(release, "test")
    identities = (
        test[test["pid"] > 0].groupby("identity")["camera"].agg(lambda c: sorted(set(c))).to_dict()
    )
    assert identities == {"multicam_lab/p1": CAMERAS, "multicam_lab/p2": CAMERAS}
    first = test.drop_duplicates("tracklet_id")
    got = {
        t: i.split("/")[1] if isinstance(i, str) else None
        for t, i in zip(first["tracklet_id"], first["identity"], strict=False)
    }
    assert got == expected
    assert set(test.loc[test["pid"] == 0, "tracklet_id"]) == {
        t for t, i in expected.items() if i is None
    }
    query = cyclist_dataset.load_split(release, "query")
    assert sorted(zip(query["identity"], query["camera"], strict=False)) == [
        (f"multicam_lab/{p}", c) for p in ("p1", "p2") for c in CAMERAS
    ]
    assert cyclist_dataset.load_split(release, "train").empty
    card = (release / "README.md").read_text()
    assert "| multicam_lab | 2 | " in card and "Label version **v0001**" in card

    market = tmp_path / "market"
    pull(release, "test", market, "market1501")
    queries = market_process_dir(market / "query")
    assert sorted((pid, camid) for _, pid, camid in queries) == [
        (p, c) for p in (1, 2) for c in range(4)
    ]
    assert len(market_process_dir(market / "bounding_box_test")) == len(test) - len(query)


def test_the_fixture_file_imports_as_it_is_on_the_tracklets_it_was_made_for(tmp_path):
    """The committed label file itself, on a split manifest rebuilt from the labelled crops."""
    old = pd.read_csv(LABELLED_CROPS, comment="#")
    rows = {r["tracklet_id"]: r for r in fixture_rows()}
    assert set(old["tracklet_id"]) == set(rows)
    assert all(int(rows[t]["n_crops"]) == n for t, n in old.groupby("tracklet_id").size().items())
    start = pd.Timestamp("2024-05-06T10:20:00", tz="UTC")  # the pipeline's start_time; 10 fps
    n = len(old)
    table = schemas.table(
        schemas.CROPS,
        {name: [None] * n for name in schemas.CROPS.names}
        | {
            "crop_path": [
                f"crops/multicam_lab/{c}/{t}/{f}.jpg"
                for t, c, f in zip(
                    old["tracklet_id"], old["camera"], old["frame_index"], strict=False
                )
            ],
            "location": ["multicam_lab"] * n,
            "camera": old["camera"].tolist(),
            "tracklet_id": old["tracklet_id"].tolist(),
            "video_id": ("multicam_lab_" + old["camera"]).tolist(),
            "frame_index": old["frame_index"].tolist(),
            "timestamp_s": (old["frame_index"] / 10).tolist(),
            "timestamp": [start + pd.Timedelta(seconds=f / 10) for f in old["frame_index"]],
            "interpolated": [False] * n,
            "x1": old["x1"].tolist(),
            "y1": old["y1"].tolist(),
            "x2": old["x2"].tolist(),
            "y2": old["y2"].tolist(),
            "model": ["m"] * n,
            "anonymization": ["{}"] * n,
            "split": ["validation"] * n,
        },
    )
    workspace = tmp_path / "ws"
    (workspace / "manifests" / "crops").mkdir(parents=True)
    pq.write_table(table, workspace / "manifests" / "crops" / "all.parquet")
    version = import_labels(workspace, LABELS, overlapping_views=True)
    labels = version.labels
    assert len(labels) == 17 and set(labels["identity"]) == {"p1", "p2"}
    assert set(zip(labels["identity"], labels["camera"], strict=False)) == {
        (p, c) for p in ("p1", "p2") for c in CAMERAS
    }
    assert dict(zip(labels["tracklet_id"], labels["identity"], strict=False)) == {
        t: r["identity"] for t, r in rows.items() if r["identity"]
    }
