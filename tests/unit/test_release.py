"""Releases (immutable, checksummed), pulls in Market-1501 / MSMT17 / Parquet layouts, the torch
loaders."""

from __future__ import annotations

import json
import os
import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from support import cli_app
from synthetic_workspace import T0, Tracklet, make_workspace, town
from test_labels import digests, write
from torchreid_parsers import market_process_dir, msmt_process_dir
from torchvision import transforms
from typer.testing import CliRunner

import cyclist_dataset
from cyclist_dataset.core import schemas
from cyclist_dataset.dataset.labels import import_labels
from cyclist_dataset.dataset.pull import pull
from cyclist_dataset.dataset.release import create_release, list_releases, verify_release
from cyclist_dataset.dataset.torch import CameraPKSampler, ReidDataset, torchreid_lists
from cyclist_dataset.errors import UserError


@pytest.fixture
def labelled(tmp_path: Path) -> Path:
    """The town workspace with labels: p1 at cameras A and B, c1 at C only; A2 and B2 unlabelled."""
    ws = town(tmp_path / "ws")
    write(
        tmp_path / "l.csv",
        "tracklet_id,identity\ntown_A_t0001,p1\ntown_B_t0001,p1\ncity_C_t0001,c1\n",
    )
    import_labels(ws, tmp_path / "l.csv")
    return ws


def test_release_splits_follow_market_conventions(labelled):
    release = create_release(labelled, "v1")
    assert release == labelled / "releases" / "v1"
    train, test = (
        cyclist_dataset.load_split(release, "train"),
        cyclist_dataset.load_split(release, "test"),
    )
    query, gallery = (
        cyclist_dataset.load_split(release, "query"),
        cyclist_dataset.load_split(release, "gallery"),
    )
    assert set(train["tracklet_id"]).isdisjoint(test["tracklet_id"])  # no tracklet in two splits
    assert train["pid"].tolist() == [0] * 4 and train["identity"].eq("town_A_t0000").all()
    labelled_test = test[test["pid"] > 0]
    assert dict(zip(labelled_test["identity"], labelled_test["pid"], strict=False)) == {
        "city/c1": 1,
        "town/p1": 2,
    }
    # distractors
    assert set(test.loc[test["pid"] == 0, "tracklet_id"]) == {
        "town_A_t0002",
        "town_B_t0002",
    }
    assert test.loc[test["pid"] == 0, "identity"].isna().all()
    # One query per identity per camera, for identities seen by >= 2 cameras (c1 only at C: none).
    assert sorted(zip(query["identity"], query["camera"], strict=False)) == [
        ("town/p1", "A"),
        ("town/p1", "B"),
    ]
    assert (query["y2"] - query["y1"]).tolist() == [76.0, 76.0]  # the largest crop of each camera
    assert sorted(gallery["crop_path"]) == sorted(set(test["crop_path"]) - set(query["crop_path"]))
    assert sorted(set(zip(test["camid"], test["location"], test["camera"], strict=False))) == [
        (0, "city", "C"),
        (1, "town", "A"),
        (2, "town", "B"),
    ]
    for frame in (train, test, query, gallery):
        assert all(Path(p).is_file() for p in frame["path"])
        assert (
            pq.read_schema(release / f"{frame['split'].iat[0]}.parquet").names
            == schemas.RELEASE_SPLIT.names
        )
    assert (
        os.stat(release / train["image"].iat[0]).st_ino
        == os.stat(labelled / train["crop_path"].iat[0]).st_ino
    )


def test_release_verifies_and_a_changed_byte_fails(labelled):
    release = create_release(labelled, "v1")
    checked, problems = verify_release(release)
    # Every file but SHA256SUMS and its own digest, SHA256SUMS.sha256
    assert problems == [] and checked == len([p for p in release.rglob("*") if p.is_file()]) - 2
    parquet = release / "test.parquet"
    data = bytearray(parquet.read_bytes())
    data[len(data) // 2] ^= 0x01
    parquet.chmod(0o644)
    parquet.write_bytes(bytes(data))
    image = next((release / "images").rglob("*.jpg"))
    image.unlink()
    (release / "extra.txt").write_text("x")
    _, problems = verify_release(release)
    assert sorted(problems) == sorted(
        [
            "test.parquet: content changed (SHA-256 differs from SHA256SUMS)",
            f"{image.relative_to(release).as_posix()}: missing",
            "extra.txt: not part of the release (added later)",
        ]
    )
    result = CliRunner().invoke(cli_app(), ["release", "verify", str(release)])
    assert result.exit_code == 1 and "3 problem(s)" in result.output


def test_releases_are_immutable_and_names_are_never_reused(labelled, tmp_path):
    first = create_release(labelled, "v1")
    before = digests(first)
    with pytest.raises(UserError, match="already exists"):
        create_release(labelled, "v1")
    write(tmp_path / "l2.csv", "tracklet_id,identity\ntown_A_t0002,p9\ntown_B_t0002,p9\n")
    import_labels(labelled, tmp_path / "l2.csv", overlapping_views=True)
    second = create_release(labelled, "v2")
    assert digests(first) == before and verify_release(first)[1] == []
    assert json.loads((first / "release.json").read_text())["labels"]["version"] == "v0001"
    assert json.loads((second / "release.json").read_text())["labels"]["version"] == "v0002"
    older = create_release(labelled, "v1-again", labels="1")
    assert json.loads((older / "release.json").read_text())["labels"]["version"] == "v0001"
    unlabelled = create_release(labelled, "no-labels", labels="none")
    assert json.loads((unlabelled / "release.json").read_text())["labels"] is None
    assert (pd.read_parquet(unlabelled / "test.parquet")["pid"] == 0).all()
    assert [r["name"] for r in list_releases(labelled)] == ["v1", "v2", "v1-again", "no-labels"]
    with pytest.raises(UserError, match="no label version 'v0007'"):
        create_release(labelled, "v3", labels="v0007")
    assert not list((labelled / "releases").glob(".*"))  # no half-built release left behind


def test_labels_of_changed_tracklets_are_refused(labelled):
    path = next((labelled / "manifests" / "crops").glob("town_A.parquet"))
    frame = pd.read_parquet(path)
    frame.loc[frame["tracklet_id"] == "town_A_t0001", "x2"] += (
        3.0  # as if a rerun had made other boxes
    )
    pq.write_table(schemas.from_pandas(schemas.CROPS, frame), path)
    with pytest.raises(UserError, match=r"no longer what was labelled .* labels carry"):
        create_release(labelled, "v1")
    # The way forward offered: carry the labels to the changed tracklets (boxes 3 px wider overlap
    # the labelled ones), then release.
    from cyclist_dataset.dataset.labels import carry_version, get_version, read_crops

    before = get_version(labelled, None)
    carried, report = carry_version(labelled, read_crops(labelled))
    assert carried.name == "v0002" and not report.lost and not report.review
    columns = ["tracklet_id", "first_frame", "last_frame", "status", "identity"]
    assert carried.labels[columns].equals(before.labels[columns])
    assert create_release(labelled, "v1").is_dir()


def test_pull_market1501_is_read_by_torchreids_parser(labelled, tmp_path):
    release = create_release(labelled, "v1")
    market = tmp_path / "market"
    pull(release, "train", market, "market1501")
    pull(release, "test", market, "market1501")
    train = market_process_dir(market / "bounding_box_train")
    query = market_process_dir(market / "query")
    gallery = market_process_dir(market / "bounding_box_test")
    assert len(train) == 4 and {pid for _, pid, _ in train} == {1}
    assert sorted((pid, camid) for _, pid, camid in query) == [(2, 1), (2, 2)]
    assert len(gallery) == len(cyclist_dataset.load_split(release, "gallery"))
    assert {pid for _, pid, _ in gallery} == {0, 1, 2}  # 0: the unlabelled distractors
    # Every exported name traces back to its crop: the pulled manifest lists it with its identity.
    pulled = pd.read_parquet(market / "test.parquet")
    by_file = pulled.set_index("image")
    for path, pid, camid in query + gallery:
        row = by_file.loc[Path(path).relative_to(market).as_posix()]
        assert (row["pid"], row["camid"]) == (pid, camid)
    with pytest.raises(UserError, match="query, bounding_box_test|bounding_box_test, query"):
        pull(release, "test", market, "market1501")


def test_market1501_refuses_more_than_six_cameras_and_msmt_takes_them(tmp_path):
    cameras = [f"cam{i:02d}" for i in range(12)]
    ws = make_workspace(
        tmp_path / "ws",
        [
            Tracklet(f"l_{c}_t0001", c, T0 + timedelta(seconds=i), location="l")
            for i, c in enumerate(cameras)
        ]
        + [
            Tracklet(f"l_{c}_t0000", c, T0 - timedelta(minutes=30), split="train", location="l")
            for c in cameras
        ],
    )
    write(
        tmp_path / "l.csv", "tracklet_id,identity\n" + "".join(f"l_{c}_t0001,p1\n" for c in cameras)
    )
    import_labels(ws, tmp_path / "l.csv", overlapping_views=True)
    release = create_release(ws, "r")
    with pytest.raises(UserError, match="12 cameras.*use --format msmt"):
        pull(release, "train", tmp_path / "market", "market1501")
    assert not (tmp_path / "market").exists()
    msmt = tmp_path / "msmt"
    pull(release, "train", msmt, "msmt")
    pull(release, "test", msmt, "msmt")
    train = msmt_process_dir(msmt / "train", msmt / "list_train.txt")
    query = msmt_process_dir(msmt / "test", msmt / "list_query.txt")
    gallery = msmt_process_dir(msmt / "test", msmt / "list_gallery.txt")
    assert (msmt / "list_val.txt").read_text() == ""
    assert sorted({camid for _, _, camid in train}) == list(range(12)) and sorted(
        {pid for _, pid, _ in train}
    ) == list(range(12))  # train pids are contiguous: torchreid does not relabel MSMT17
    assert sorted(camid for _, _, camid in query) == list(range(12)) and {
        pid for _, pid, _ in query
    } == {1}
    for path, _pid, _camid in train + query + gallery:
        assert Path(path).is_file()
    manifest = pd.read_parquet(msmt / "train.parquet").set_index("image")
    for path, pid, camid in train:
        row = manifest.loc[Path(path).relative_to(msmt).as_posix()]
        assert (row["pid"], row["camid"]) == (pid, camid)


def test_market1501_refuses_more_identities_than_torchreid_accepts(tmp_path):
    from cyclist_dataset.dataset.pull import MARKET_MAX_PID, _check_market

    # train pids 0..1501 are written as 1..1502
    many = pd.DataFrame({"pid": np.arange(MARKET_MAX_PID + 1)})
    with pytest.raises(UserError, match="1502 identities.*msmt"):
        _check_market({"cameras": [{}]}, {"train": many}, tmp_path)
    _check_market({"cameras": [{}]}, {"train": many.iloc[:-1], "gallery": many}, tmp_path)


def test_pull_parquet_and_the_pull_command(labelled, tmp_path):
    release = create_release(labelled, "v1")
    result = CliRunner().invoke(
        cli_app(),
        [
            "pull",
            str(release),
            "--split",
            "gallery",
            "--to",
            str(tmp_path / "p"),
            "--format",
            "parquet",
        ],
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_parquet(tmp_path / "p" / "gallery.parquet")
    assert len(frame) == len(cyclist_dataset.load_split(release, "gallery"))
    assert all((tmp_path / "p" / image).is_file() for image in frame["image"])
    assert frame["image"].str.startswith("gallery/").all()
    result = CliRunner().invoke(
        cli_app(), ["pull", str(release), "--split", "nope", "--to", str(tmp_path / "q")]
    )
    assert result.exit_code == 2 and "nope" in result.output


def test_release_commands(labelled):
    runner = CliRunner()
    result = runner.invoke(cli_app(), ["release", "create", str(labelled), "v1", "--by", "ml-team"])
    assert result.exit_code == 0, result.output
    assert "dataset card" in result.output
    result = runner.invoke(cli_app(), ["release", "list", str(labelled)])
    assert result.exit_code == 0 and re.search(
        r"v1 .* labels v0001 .* train 4 images / 1 ids", result.output
    )
    result = runner.invoke(cli_app(), ["release", "verify", str(labelled / "releases" / "v1")])
    assert result.exit_code == 0 and "ok" in result.output
    result = runner.invoke(cli_app(), ["release", "create", str(labelled), "v1"])
    assert isinstance(result.exception, UserError) and "already exists" in str(result.exception)


@pytest.fixture
def two_camera_release(tmp_path: Path) -> Path:
    """Train tracklets at two cameras: 37 at A (1-9 crops each), 18 at B (the last one: 1 crop)."""
    tracklets = [
        Tracklet(
            f"l_A_t{i:04d}",
            "A",
            T0 - timedelta(minutes=40) + timedelta(seconds=20 * i),
            n=1 + i % 9,
            split="train",
            location="l",
        )
        for i in range(37)
    ]
    tracklets += [
        Tracklet(
            f"l_B_t{i:04d}",
            "B",
            T0 - timedelta(minutes=40) + timedelta(seconds=20 * i),
            n=3 + i % 5 if i < 17 else 1,
            split="train",
            location="l",
        )
        for i in range(18)
    ]
    ws = make_workspace(tmp_path / "ws", tracklets)
    return create_release(ws, "r")


def test_pk_sampler_batches_are_single_camera_and_p_by_k(two_camera_release):
    dataset = ReidDataset(two_camera_release, "train")
    assert dataset.num_pids == 55 and sorted(set(dataset.pids)) == list(range(55))
    sampler = CameraPKSampler(dataset, p=16, k=4, seed=3)
    batches = list(sampler)
    assert len(batches) == len(sampler) == 37 // 16 + 18 // 16 == 3
    seen: list[int] = []
    for batch in batches:
        assert len(batch) == 64
        assert len({int(dataset.camids[i]) for i in batch}) == 1  # a single camera
        pids = [int(dataset.pids[i]) for i in batch]
        # P identities x K images
        assert sorted(pd.Series(pids).value_counts().tolist()) == [4] * 16
        for pid in set(pids):
            indices = [i for i in batch if dataset.pids[i] == pid]
            available = int((dataset.pids == pid).sum())
            assert len(set(indices)) == min(4, available)  # distinct images; repeats only to pad
        seen += sorted(set(pids))
    assert len(seen) == len(set(seen))  # each identity at most once per epoch
    assert batches == list(CameraPKSampler(dataset, p=16, k=4, seed=3))  # deterministic for a seed
    assert list(sampler) != batches  # the next epoch draws anew


def test_reid_dataset_feeds_a_dataloader(two_camera_release):
    transform = transforms.Compose([transforms.Resize((64, 32)), transforms.ToTensor()])
    dataset = ReidDataset(two_camera_release, "train", transform=transform)
    loader = torch.utils.data.DataLoader(dataset, batch_sampler=CameraPKSampler(dataset, p=4, k=2))
    images, pids, camids = next(iter(loader))
    assert images.shape == (8, 3, 64, 32) and images.dtype == torch.float32
    assert len(set(camids.tolist())) == 1 and len(set(pids.tolist())) == 4
    image, pid, camid = ReidDataset(two_camera_release, "train")[0]
    assert image.mode == "RGB" and isinstance(pid, int) and camid == 0
    camera_b = cyclist_dataset.load_split(two_camera_release, "train").query("camera == 'B'")
    # relabelled: a classifier over camera B's 18 tracklets
    subset = ReidDataset.from_frame(camera_b)
    assert (
        subset.num_pids == 18
        and sorted(set(subset.pids)) == list(range(18))
        and set(subset.camids) == {1}
    )
    train, query, gallery = torchreid_lists(two_camera_release)
    assert len(train) == len(dataset) and query == [] and gallery == []
    assert all(isinstance(p, str) and Path(p).is_file() for p, _, _ in train)
