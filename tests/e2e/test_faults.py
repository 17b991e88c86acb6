"""Crash safety: a run killed at a named point inside each stage, then a plain rerun, gives exactly
the uninterrupted result, also when the killed run had other settings that were then reverted.

Kill points are those of ``cyclist_dataset.io.faults`` (SIGKILL, no cleanup). After each rerun:
every manifest row of the video, every file under ``crops/`` and the release made from the
workspace equal those of the uninterrupted demo run.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from support import CYCLIST_VIDEO, DEMO, REPO

from cyclist_dataset.core.config import PipelineConfig, load_pipeline
from cyclist_dataset.dataset.release import create_release, verify_release
from cyclist_dataset.io.atomic import PARTIAL_SUFFIX, is_temporary
from cyclist_dataset.io.faults import KILL_ENV
from cyclist_dataset.pipeline.run import run_pipeline
from cyclist_dataset.tools.report import MANIFESTS


def _run_and_die(config: PipelineConfig, stages: tuple[str, ...], force: bool, spec: str) -> None:
    os.environ[KILL_ENV] = spec
    run_pipeline(config, stages=stages, force=force, log=lambda line: None)


def run_killed(config: PipelineConfig, point: str, markers: Path, stages=None, force=False) -> None:
    """Run in a fresh process that SIGKILLs itself at ``point`` of the cyclist video."""
    from cyclist_dataset.pipeline.unit import STAGE_NAMES

    process = multiprocessing.get_context("spawn").Process(
        target=_run_and_die,
        args=(config, stages or STAGE_NAMES, force, f"{markers}:{CYCLIST_VIDEO}:{point}"),
    )
    process.start()
    process.join(300)
    assert process.exitcode == -signal.SIGKILL, f"the run did not reach {point}"


def state(root: Path) -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The cyclist video's rows in every manifest and intermediate result, and every crop file's
    SHA-256."""
    tables = {}
    for folder in [f"manifests/{name}" for name in MANIFESTS] + [
        "stages/detect",
        "stages/anonymize",
    ]:
        path = root / folder / f"{CYCLIST_VIDEO}.parquet"
        tables[folder] = pd.read_parquet(path) if path.is_file() else None
    crops = {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((root / "crops").rglob("*"))
        if p.is_file()
    }
    return tables, crops


@pytest.fixture(scope="module")
def uninterrupted(demo_run, tmp_path_factory):
    """The demo's cyclist video alone, as the uninterrupted run left it."""
    config, _ = demo_run
    one = config.model_copy(
        update={
            "workspace": tmp_path_factory.mktemp("uninterrupted") / "ws",
            "videos": tuple(v for v in config.videos if v.video_id == CYCLIST_VIDEO),
        }
    )
    assert not run_pipeline(one, log=lambda line: None).failed
    return one, state(one.workspace)


def assert_same(root: Path, expected) -> None:
    tables, crops = state(root)
    for name, frame in expected[0].items():
        pd.testing.assert_frame_equal(tables[name], frame, obj=name)
    assert crops == expected[1]
    assert not [p for p in root.rglob("*") if is_temporary(p) or p.name.endswith(PARTIAL_SUFFIX)]
    release = create_release(root, "after-crash", log=lambda line: None)
    checked, problems = verify_release(release)
    assert checked > 0 and not problems
    released = {
        p.relative_to(release / "images").as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in (release / "images").rglob("*")
        if p.is_file()
    }
    split = pd.read_parquet(root / "manifests" / "crops" / f"{CYCLIST_VIDEO}.parquet")
    assert released == {
        path.removeprefix("crops/"): expected[1][path] for path in split["crop_path"]
    }, "the release holds other bytes than the uninterrupted run's crops"


POINTS = [
    "ingest",
    "detect",
    "filter",
    "track",
    "track.side",
    "anonymize.cleared",
    "anonymize.crop.5",
    "anonymize",
    "split",
]


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_each_point_then_rerun_equals_the_uninterrupted_run(
    uninterrupted, point, tmp_path
):
    config, expected = uninterrupted
    fresh = config.model_copy(update={"workspace": tmp_path / "ws"})
    run_killed(fresh, point, tmp_path / "markers")
    report = run_pipeline(fresh, log=lambda line: None)
    assert not report.failed and report.done, point
    assert_same(fresh.workspace, expected)


def _copy(config: PipelineConfig, tmp_path: Path) -> PipelineConfig:
    shutil.copytree(config.workspace, tmp_path / "ws", ignore=shutil.ignore_patterns(".lock"))
    return config.model_copy(update={"workspace": tmp_path / "ws"})


def test_forced_crop_rerun_killed_midway_is_redone(uninterrupted, tmp_path):
    """`run --stages anonymize,split --force`, killed after some crops: the plain rerun must not
    call the old result up to date while its crops are half replaced."""
    config, expected = uninterrupted
    copy = _copy(config, tmp_path)
    run_killed(copy, "anonymize.crop.10", tmp_path / "m", stages=("anonymize", "split"), force=True)
    report = run_pipeline(copy, log=lambda line: None)
    assert sorted(stage for stage, _ in report.done) == ["anonymize", "split"]
    assert_same(copy.workspace, expected)


@pytest.mark.parametrize(
    "method,point",
    [("gaussian", "anonymize.crop.10"), ("face", "anonymize")],
    ids=["gaussian-killed-midway", "face-killed-before-the-result"],
)
def test_changed_then_reverted_blur_is_redone(uninterrupted, tmp_path, method, point):
    """Crops written with another method by a killed run, settings reverted: the old result's
    fingerprint matches again, but its crops on disk are not its own any more."""
    config, expected = uninterrupted
    copy = _copy(config, tmp_path)
    other = copy.model_copy(
        update={"anonymize": copy.anonymize.model_copy(update={"method": method})}
    )
    run_killed(other, point, tmp_path / "m")
    report = run_pipeline(copy, log=lambda line: None)
    assert ("anonymize", CYCLIST_VIDEO) in report.done
    assert_same(copy.workspace, expected)


def test_changed_then_reverted_tracker_leaves_no_stale_summary(uninterrupted, tmp_path):
    config, expected = uninterrupted
    copy = _copy(config, tmp_path)
    other = copy.model_copy(update={"track": copy.track.model_copy(update={"iou_min": 0.5})})
    run_killed(other, "track.side", tmp_path / "m")  # a new summary, the old tracklets
    report = run_pipeline(copy, log=lambda line: None)
    assert ("track", CYCLIST_VIDEO) in report.done
    assert_same(copy.workspace, expected)


def _children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        text = (task / "children").read_text() if (task / "children").exists() else ""
        found |= {int(c) for c in text.split()}
    return found


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux's /proc")
def test_killed_parent_takes_its_workers_along_and_leaves_the_workspace_free(tmp_path):
    """`run --workers 2`, the parent killed mid-run: its workers die with it (they would hold the
    workspace lock), and the next run starts at once."""
    workspace = tmp_path / "ws"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cyclist_dataset",
            "run",
            str(DEMO),
            "--workspace",
            str(workspace),
            "--workers",
            "2",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while time.monotonic() < deadline and not list(workspace.glob("stages/detect/*.parquet")):
        workers |= _children(process.pid)
        time.sleep(0.05)
    workers |= _children(process.pid)
    assert workers, "no worker process was started"
    process.send_signal(signal.SIGKILL)
    process.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(Path(f"/proc/{w}").exists() for w in workers):
        time.sleep(0.05)
    alive = [w for w in workers if Path(f"/proc/{w}").exists()]
    assert not alive, f"worker processes outlived their parent: {alive}"
    report = run_pipeline(load_pipeline(DEMO, workspace), log=lambda line: None)  # not refused
    assert not report.failed
