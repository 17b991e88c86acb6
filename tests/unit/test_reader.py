"""The ML team's side: a light reader (no pipeline imported), empty splits that say why,
distractors per export format, the torchreid route as the README writes it (spawn included),
and every Python snippet of the README, executed."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from support import REPO, cli_app
from synthetic_workspace import T0, Tracklet, make_workspace
from torchreid_parsers import market_process_dir, msmt_process_dir
from torchvision import transforms
from typer.testing import CliRunner

import cyclist_dataset
from cyclist_dataset.cli.app import PIPELINE_MODULES
from cyclist_dataset.dataset.evaluation import evaluate
from cyclist_dataset.dataset.labels import import_labels
from cyclist_dataset.dataset.pull import pull
from cyclist_dataset.dataset.release import create_release
from cyclist_dataset.dataset.torch import CameraPKSampler, ReidDataset, extract_features
from cyclist_dataset.errors import UserError

runner = CliRunner()


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    """``WORKSPACE/releases/v1`` (the README's own path): 37 train tracklets at camera A, 18 at
    B; five people labelled across A and B, one also at C, two unlabelled validation tracklets."""
    root = tmp_path_factory.mktemp("readme")
    start = T0 - timedelta(minutes=40)
    tracklets = [
        Tracklet(
            f"l_{cam}_t{i:04d}",
            cam,
            start + timedelta(seconds=20 * i),
            n=2 + i % 5,
            split="train",
            location="l",
            colour=(30 + 5 * i, 90, 200 - 3 * i),
        )
        for cam, count in (("A", 37), ("B", 18))
        for i in range(count)
    ]
    rows = []
    for person in range(5):
        for c, cam in enumerate("AB" + ("C" if person == 0 else "")):
            name = f"l_{cam}_t{100 + person:04d}"
            colour = (40 * person + 20, 200 - 30 * person, 90 + (cam == "B") * 10)
            tracklets.append(
                Tracklet(
                    name,
                    cam,
                    T0 + timedelta(seconds=60 * person + 10 * c),
                    n=4,
                    location="l",
                    colour=colour,
                )
            )
            rows.append(f"{name},p{person}")
    tracklets += [
        Tracklet("l_A_t0200", "A", T0 + timedelta(minutes=7), location="l", colour=(9, 9, 9)),
        Tracklet("l_B_t0200", "B", T0 + timedelta(minutes=8), location="l", colour=(250, 9, 9)),
    ]
    ws = make_workspace(root / "WORKSPACE", tracklets)
    (root / "labels.csv").write_text("tracklet_id,identity\n" + "\n".join(rows) + "\n")
    import_labels(ws, root / "labels.csv")
    return create_release(ws, "v1")


def test_reading_a_release_imports_nothing_of_the_pipeline():
    """(The command line in a reader-only install: tests/e2e/test_reader_install.py.)"""
    code = (
        "import sys, cyclist_dataset\n"
        "cyclist_dataset.load_split\n"
        "import cyclist_dataset.dataset.pull, cyclist_dataset.dataset.evaluation\n"
        "print(sorted({m.split('.')[0] for m in sys.modules}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    imported = set(json.loads(result.stdout.replace("'", '"')))
    assert not imported & PIPELINE_MODULES, imported & PIPELINE_MODULES
    assert "cyclist_dataset" in imported and "pyarrow" in imported


def test_an_empty_split_says_why_everywhere(tmp_path):
    """City has only validation footage (as the multicam clips): run and release warn, and
    every reader of the empty train split raises with the cause."""
    ws = make_workspace(tmp_path / "ws", [Tracklet("city_C_t0001", "C", T0, location="city")])
    lines: list[str] = []
    release = create_release(ws, "r", log=lines.append)
    assert any("location 'city' contributes no train crops" in line for line in lines)
    meta = json.loads((release / "release.json").read_text())
    assert meta["warnings"] and "no train crops" in (release / "README.md").read_text()
    from cyclist_dataset.tools.report import split_warnings

    assert split_warnings(ws) == meta["warnings"]
    with pytest.raises(UserError, match="the train split is empty.*validation window"):
        cyclist_dataset.load_split(release, "train")
    assert len(cyclist_dataset.load_split(release, "train", allow_empty=True)) == 0
    with pytest.raises(UserError, match="train split is empty"):
        ReidDataset(release, "train")
    with pytest.raises(UserError, match="ReidDataset: no images"):
        ReidDataset.from_frame(cyclist_dataset.load_split(release, "test").iloc[:0])
    with pytest.raises(UserError, match="train split is empty, nothing to export"):
        pull(release, "train", tmp_path / "out", "market1501")
    from cyclist_dataset.dataset.torch import torchreid_lists

    with pytest.raises(UserError, match="train split is empty"):
        torchreid_lists(release)


def test_the_pk_sampler_raises_with_the_numbers_instead_of_yielding_nothing(release):
    dataset = ReidDataset(release, "train")
    with pytest.raises(ValueError, match=r"no camera has p=40 .*camera 0: 37, camera 1: 18.*37"):
        CameraPKSampler(dataset, p=40)
    assert len(list(CameraPKSampler(dataset, p=40, drop_last=False))) == 2


def test_distractors_follow_each_export_format(release, tmp_path):
    test = cyclist_dataset.load_split(release, "test")
    distractor_tracklets = sorted(test.loc[test["pid"] == 0, "tracklet_id"].unique())
    labelled = int(test["pid"].max())
    assert len(distractor_tracklets) == 2 and labelled == 5
    # Market-1501: distractors are 0000, in the gallery only; no junk (-1) file exists
    market = tmp_path / "market"
    pull(release, "test", market, "market1501")
    gallery = market_process_dir(market / "bounding_box_test")
    assert sum(pid == 0 for _, pid, _ in gallery) == (test["pid"] == 0).sum()
    assert not list(market.rglob("-1_*")) and 0 not in {
        p for _, p, _ in market_process_dir(market / "query")
    }
    # MSMT17: one identity per distractor tracklet, after the labelled ones, in the gallery only
    msmt = tmp_path / "msmt"
    pull(release, "test", msmt, "msmt")
    gallery = msmt_process_dir(msmt / "test", msmt / "list_gallery.txt")
    query = msmt_process_dir(msmt / "test", msmt / "list_query.txt")
    exported = pd.read_parquet(msmt / "test.parquet").set_index("image")
    by_tracklet: dict[str, set[int]] = {}
    for path, pid, _ in gallery + query:
        row = exported.loc[Path(path).relative_to(msmt).as_posix()]
        by_tracklet.setdefault(row["tracklet_id"], set()).add(pid)
        assert pid == row["pid"] if row["pid"] > 0 else pid > labelled
    assert [by_tracklet[t] for t in distractor_tracklets] == [{labelled + 1}, {labelled + 2}]
    assert {pid for _, pid, _ in query} <= set(range(1, labelled + 1))


def test_pull_prints_the_nesting_torchreid_reads(release, tmp_path):
    torchreid = pytest.importorskip("torchreid")
    plain = runner.invoke(
        cli_app(),
        [
            "pull",
            str(release),
            "--split",
            "train",
            "--to",
            str(tmp_path / "x"),
            "--format",
            "market1501",
        ],
    )
    assert "ROOT/market1501/Market-1501-v15.09.15" in plain.output
    for fmt, nesting, source in (
        ("market1501", "market1501/Market-1501-v15.09.15", "market1501"),
        ("msmt", "msmt17/MSMT17_V1", "msmt17"),
    ):
        root = tmp_path / fmt
        for split in ("train", "test"):
            result = runner.invoke(
                cli_app(),
                [
                    "pull",
                    str(release),
                    "--split",
                    split,
                    "--to",
                    str(root / nesting),
                    "--format",
                    fmt,
                ],
            )
            assert result.exit_code == 0, result.output
        assert f"ImageDataManager(root={str(root.resolve())!r}, sources={source!r})" in (
            result.output.replace("\n", "")
        )
        for sampler in ("RandomSampler", "RandomIdentitySampler"):
            manager = torchreid.data.ImageDataManager(
                root=str(root),
                sources=source,
                height=32,
                width=16,
                batch_size_train=8,
                train_sampler=sampler,
                num_instances=2,
                workers=0,
                transforms=None,
            )
            batch = next(iter(manager.train_loader))
            assert batch["img"].shape == (8, 3, 32, 16)
            assert manager.num_train_pids == 55


def test_the_torchreid_dataset_loads_in_a_spawn_worker(release):
    torchreid = pytest.importorskip("torchreid")
    from cyclist_dataset.dataset.torchreid import CyclistRelease

    torchreid.data.register_image_dataset("cyclists-spawn", CyclistRelease)
    manager = torchreid.data.ImageDataManager(
        root=str(release),
        sources="cyclists-spawn",
        height=32,
        width=16,
        workers=0,
        transforms=None,
        combineall=True,
    )
    # combineall: the five labelled identities join the 55 train ones, the distractors do not
    assert manager.num_train_pids == 55 + 5
    for dataset in (
        manager.train_loader.dataset,
        ReidDataset(
            release,
            "train",
            transforms.Compose([transforms.Resize((32, 16)), transforms.ToTensor()]),
        ),
    ):
        loader = torch.utils.data.DataLoader(
            dataset, batch_size=4, num_workers=1, multiprocessing_context="spawn"
        )
        batch = next(iter(loader))
        images = batch["img"] if isinstance(batch, dict) else batch[0]
        assert images.shape == (4, 3, 32, 16)


def test_extract_features_from_a_pytorch_model(release):
    class TwoOutputs(torch.nn.Module):  # as some torchreid models: (features, logits)
        def __init__(self) -> None:
            super().__init__()
            self.pool = torch.nn.AdaptiveAvgPool2d((4, 2))

        def forward(self, images):
            features = self.pool(images).flatten(1)
            return features, features.sum(1)

    model = TwoOutputs().train()
    transform = transforms.Compose([transforms.Resize((32, 16)), transforms.ToTensor()])
    features = extract_features(model, release, transform, batch_size=7)
    test = cyclist_dataset.load_split(release, "test")
    assert list(features.images) == list(test["image"]) and features.vectors.shape == (
        len(test),
        24,
    )
    assert model.training  # left as it was found
    with Image.open(test["path"][5]) as image:
        alone = model(transform(image.convert("RGB"))[None])[0][0].detach().numpy()
    assert np.allclose(features.vectors[5], alone, atol=1e-6)
    evaluation = evaluate(release, features)
    assert evaluation.closed_world["thesis"]["images"].queries == (test["pid"] > 0).sum()


def _readme_blocks() -> list[str]:
    text = (REPO / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_every_python_snippet_of_the_readme_runs(release, monkeypatch, tmp_path):
    pytest.importorskip("torchreid")
    from cyclist_dataset import Detections

    blocks = _readme_blocks()
    assert len(blocks) == 4
    monkeypatch.chdir(release.parents[2])  # where WORKSPACE/releases/v1 is
    # The one input a snippet names without making it: the tracker's frames (user data).
    boxes = np.array([[10.0, 10.0, 40.0, 90.0]])
    frames = [(0.1 * i, boxes + 3 * i, np.array([0.9]), np.array(["person"])) for i in range(5)]
    namespaces = []
    for block in blocks:
        namespace: dict = {"frames": frames, "Detections": Detections}
        exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102
        namespaces.append(namespace)
    tracker, reader, torchreid_route, evaluation = namespaces
    assert set(tracker["found"].data["track_id"]) == {1}  # one box, one track throughout
    assert reader["images"].shape == (64, 3, 256, 128)
    assert len(set(reader["camids"].tolist())) == 1
    assert torchreid_route["datamanager"].num_train_pids == 55
    assert (Path("results") / "evaluation.json").is_file() and Path("features.parquet").is_file()
    assert "| thesis" in evaluation["markdown"](evaluation["evaluation"])
