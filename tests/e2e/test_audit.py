"""The privacy audit on real runs: kill a run while it writes crops, then scan every file on
disk."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pandas as pd
import pytest
from support import DEMO, REPO, cli, cli_app, write_segment
from typer.testing import CliRunner

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.io.atomic import TEMP_MARK
from cyclist_dataset.pipeline.run import run_pipeline
from cyclist_dataset.tools.privacy_audit import audit_workspace

PIPELINE = """
workspace = "workspace"
roi_dir = "roi"

[location]
name = "lab"

[[cameras]]
id = "c1"

[[videos]]
camera = "c1"
path = "intel_76s.mp4"
start_time = 2020-01-01T12:20:00   # mid-hour: clear of the split's guard band

[detect]
backend = "yolox_onnx"

[filter]
max_aspect_ratio = 1.0
min_width_px = 30

[track]
require_bicycle = false   # walkers: their faces are what this test is about
"""


@pytest.fixture(scope="module")
def intel_pipeline(tmp_path_factory) -> Path:
    """A pipeline over 10 s of the intel clip (people turning their faces close to the camera)."""
    root = tmp_path_factory.mktemp("intel_pipeline")
    write_segment(root / "intel_76s.mp4", range(760, 860))
    (root / "roi" / "lab").mkdir(parents=True)
    (root / "roi" / "lab" / "c1.json").write_text(
        json.dumps(
            {
                "description": "the whole frame",
                "image_width": 768,
                "image_height": 432,
                "include": [[[0, 0], [768, 0], [768, 432], [0, 432]]],
            }
        )
    )
    (root / "pipeline.toml").write_text(PIPELINE)
    return root / "pipeline.toml"


def kill_once_crops_appear(pipeline: Path, workspace: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cyclist_dataset",
            "run",
            str(pipeline),
            "--workspace",
            str(workspace),
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    crops = workspace / "crops"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and process.poll() is None:
        # Wait for a finished crop (renamed into place), not just an empty temporary file, so that
        # the scan below always has at least one image to audit; temporary files on disk are
        # scanned too.
        if crops.is_dir() and any(
            p.is_file() and not p.name.startswith(".") for p in crops.rglob("*")
        ):
            break
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL, "the run ended before it was killed"


@pytest.mark.parametrize("which", ["demo", "intel"])
def test_killed_during_the_crop_stage_every_image_on_disk_passes_the_audit(
    which, intel_pipeline, tmp_path
):
    pipeline = DEMO if which == "demo" else intel_pipeline
    workspace = tmp_path / "killed"
    kill_once_crops_appear(pipeline, workspace)
    config = load_pipeline(pipeline, workspace)
    finished = [
        v.video_id
        for v in config.videos
        if (workspace / "stages" / "anonymize" / f"{v.video_id}.parquet").exists()
    ]
    assert len(finished) < len(config.videos)  # killed inside the crop stage

    # Every file on disk, whatever its name (temporary files included), that decodes as an image.
    report = audit_workspace(workspace, every_file=True, progress=False, output=tmp_path / "audit")
    images = report.crops[report.crops["readable"]]
    assert len(images) >= 1
    assert images["audit_passed"].all(), (
        images.sort_values("audit_face_score").tail(3).to_dict("records")
    )

    if which == "intel":  # a rerun finishes the job; every crop it keeps passed the audit
        report = run_pipeline(config, log=lambda line: None)
        assert not report.failed
        crops = pd.read_parquet(workspace / "manifests" / "crops")
        assert len(crops) >= 5 and crops["audit_passed"].all()
        assert not list(workspace.rglob(f"*{TEMP_MARK}*"))


def test_audit_privacy_command_reports_per_camera_and_flags_a_raw_face(intel_pipeline, tmp_path):
    workspace = tmp_path / "workspace"
    config = load_pipeline(intel_pipeline, workspace)
    assert not run_pipeline(
        config, stages=("ingest", "detect", "filter", "track", "anonymize"), log=lambda line: None
    ).failed
    result = CliRunner().invoke(cli_app(), ["audit-privacy", str(workspace)])
    assert result.exit_code == 0, result.output
    assert "0 with a detectable face" in result.output
    assert (workspace / "audit" / "worst_offenders.png").is_file()
    audited = pd.read_parquet(workspace / "audit" / "privacy_audit.parquet")
    assert len(audited) == len(list((workspace / "crops").rglob("*.jpg")))

    # An unblurred crop with a face, planted among the crops, is caught and tops the contact sheet.
    crops = pd.read_parquet(workspace / "stages" / "anonymize")
    from cyclist_dataset.io import video
    from cyclist_dataset.stages.anonymize.audit import Auditor

    auditor, planted = Auditor(), None
    rows = {r.frame_index: r for r in crops.itertuples()}
    for frame in video.frames(config.videos[0].path, 10.0, wanted=set(rows)):
        r = rows[frame.index]
        raw = frame.image[int(r.y1) : int(r.y2), int(r.x1) : int(r.x2)]
        if not auditor.check(raw).passed:
            planted = workspace / "crops" / "lab" / "c1" / "planted" / "raw.jpg"
            planted.parent.mkdir(parents=True)
            cv2.imwrite(str(planted), raw)
            break
    assert planted is not None, "some raw crop of this segment shows a face"
    result = CliRunner().invoke(cli_app(), ["audit-privacy", str(workspace), "--worst", "4"])
    assert result.exit_code == 1
    assert "1 with a detectable face" in result.output
    audited = pd.read_parquet(workspace / "audit" / "privacy_audit.parquet")
    worst = audited.sort_values("audit_face_score").iloc[-1]
    assert worst["path"].endswith("planted/raw.jpg") and not worst["audit_passed"]
    shutil.rmtree(planted.parent)


def test_audit_privacy_on_a_workspace_without_crops_says_so(tmp_path):
    (tmp_path / "crops").mkdir()
    result = cli("audit-privacy", str(tmp_path))
    assert result.returncode == 2
    assert f"no crop images under {tmp_path / 'crops'}" in result.stderr
    assert "Traceback" not in result.stderr
