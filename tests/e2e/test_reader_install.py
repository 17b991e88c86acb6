"""The reader alone, as an ML engineer installs it in a training environment: a fresh venv with
`pip install cyclist-dataset` (no extras) reads, verifies, pulls and evaluates a release, and
nothing of the pipeline (OpenCV, onnxruntime, torch, ...) is installed."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from support import REPO
from synthetic_workspace import SYNTHETIC_AUDIT, T0, Tracklet, make_workspace

from cyclist_dataset.cli.app import PIPELINE_MODULES
from cyclist_dataset.dataset import privacy
from cyclist_dataset.dataset.labels import import_labels
from cyclist_dataset.dataset.release import create_release


def run(*args: str | Path, cwd: Path | None = None, timeout: float = 600) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=timeout, cwd=cwd
    )
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def release(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("reader")
    tracklets = [
        Tracklet(
            f"town_{cam}_t{p:04d}",
            cam,
            T0 + timedelta(seconds=60 * p + 10 * c),
            colour=(50 * p, 200 - 40 * p, 60 + 30 * c),
        )
        for p in range(4)
        for c, cam in enumerate("AB")
    ]
    tracklets.append(Tracklet("town_A_t0100", "A", T0 - timedelta(minutes=30), split="train"))
    ws = make_workspace(root / "ws", tracklets)
    (root / "labels.csv").write_text(
        "tracklet_id,identity\n"
        + "".join(f"town_{cam}_t{p:04d},p{p}\n" for p in range(3) for cam in "AB")
    )
    import_labels(ws, root / "labels.csv")
    with pytest.MonkeyPatch.context() as patch:  # the synthetic crops' audit stands for the real
        patch.setattr(privacy, "reference_audit", lambda: SYNTHETIC_AUDIT)
        return create_release(ws, "r1")


def test_a_reader_only_install_reads_pulls_and_evaluates(release, tmp_path):
    # Only what a wheel is built from: an in-tree build would write build/ into the checkout.
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    shutil.copytree(
        REPO / "cyclist_dataset",
        source / "cyclist_dataset",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(venv / "bin" / "pip", "install", "--quiet", "--disable-pip-version-check", source)

    installed = {
        p["name"].lower() for p in json.loads(run(venv / "bin" / "pip", "list", "--format", "json"))
    }
    assert {"numpy", "pandas", "pyarrow", "pillow", "typer", "cyclist-dataset"} <= installed
    python, command = venv / "bin" / "python", venv / "bin" / "cyclist-dataset"
    importable = run(
        python,
        "-c",
        (
            "import importlib.util\n"
            f"print(sorted(m for m in {sorted(PIPELINE_MODULES)!r} if importlib.util.find_spec(m)))"
        ),
    )
    assert importable.strip() == "[]", importable  # nothing of the pipeline is installed
    read = run(
        python,
        "-c",
        (
            "import sys, cyclist_dataset\n"
            f"test = cyclist_dataset.load_split({str(release)!r}, 'test')\n"
            "print(len(test), test['pid'].nunique())"
        ),
    )
    test = pd.read_parquet(release / "test.parquet")
    assert read.split() == [str(len(test)), "4"]  # 3 identities and the distractors (pid 0)
    assert "ok" in run(command, "release", "verify", release)
    pulled = run(
        command,
        "pull",
        release,
        "--split",
        "test",
        "--to",
        tmp_path / "m",
        "--format",
        "market1501",
    )
    assert "ROOT/market1501/Market-1501-v15.09.15" in pulled
    out = tmp_path / "evaluation"
    printed = run(command, "evaluate", release, "--baseline", "colour", "--out", out)
    queries = int((test["pid"] > 0).sum())  # every labelled image has a match in the other camera
    assert f"| thesis (each test image against all others) | images | {queries} |" in printed
    assert "pip install 'cyclist-dataset[plots]'" in printed  # no matplotlib, no PNG
    assert json.loads((out / "evaluation.json").read_text())["test_set"]["identities"] == 3
    # A pipeline command says what to install instead of a traceback.
    refused = subprocess.run(
        [command, "run", REPO / "pipelines" / "demo.toml"], capture_output=True, text=True
    )
    stub = subprocess.run(
        [command, "track-mot", "det.txt", "--fps", "25", "--out", "tracks.txt"],
        capture_output=True,
        text=True,
    )
    for result in (refused, stub):
        assert result.returncode == 2
        assert "pip install 'cyclist-dataset[pipeline]'" in result.stderr
        assert "Traceback" not in result.stderr
