"""The whole pipeline on the real Radeberg footage with the real YOLOX-nano model."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from support import CARS_ONLY_VIDEOS, CYCLIST_VIDEO, DEMO, REPO

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.core.geometry import clip_box
from cyclist_dataset.io import video
from cyclist_dataset.io.atomic import TEMP_MARK
from cyclist_dataset.pipeline import unit as runner
from cyclist_dataset.pipeline.run import run_pipeline
from cyclist_dataset.pipeline.unit import STAGE_NAMES
from cyclist_dataset.stages.anonymize import anonymize_crop, faces
from cyclist_dataset.tools.report import MANIFESTS

SORT_KEYS = {
    "videos": ["video_id"],
    "detections": ["video_id", "detection_id"],
    "tracklets": ["video_id", "tracklet_id", "frame_index"],
    "tracklet_summary": ["tracklet_id"],
    "crops": ["crop_path"],
}


def manifests(root: Path) -> dict[str, pd.DataFrame]:
    return {
        name: pd.read_parquet(root / "manifests" / name)
        .sort_values(SORT_KEYS[name])
        .reset_index(drop=True)
        for name in MANIFESTS
    }


def file_digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def test_cyclist_becomes_a_tracklet_with_crops(demo_run):
    config, _ = demo_run
    tables = manifests(config.workspace)
    tracklets = tables["tracklets"][tables["tracklets"]["video_id"] == CYCLIST_VIDEO]
    assert tracklets["tracklet_id"].nunique() >= 1
    longest = tracklets.groupby("tracklet_id").size().idxmax()
    path = tracklets[tracklets["tracklet_id"] == longest].sort_values("frame_index")
    # The rider crosses from the far road (upper left) towards the camera (lower right).
    assert path["timestamp_s"].iat[-1] - path["timestamp_s"].iat[0] >= 1.0
    assert path["x1"].iat[-1] - path["x1"].iat[0] > 50
    assert path["y2"].iat[-1] - path["y2"].iat[0] > 0
    crops = tables["crops"][tables["crops"]["video_id"] == CYCLIST_VIDEO]
    assert len(crops) == len(tracklets)
    for relative in crops["crop_path"]:
        image = cv2.imread(str(config.workspace / relative))
        assert image is not None and image.shape[0] > 40
    assert set(crops["split"]) <= {"train", "validation"}


@pytest.mark.parametrize("video_id", CARS_ONLY_VIDEOS)
def test_cars_only_clips_give_no_tracklets(demo_run, video_id):
    config, _ = demo_run
    tables = manifests(config.workspace)
    assert video_id in set(tables["videos"]["video_id"])
    assert (tables["detections"]["video_id"] == video_id).any()  # the detector ran and saw things
    assert not (tables["tracklets"]["video_id"] == video_id).any()
    assert not (tables["crops"]["video_id"] == video_id).any()


def test_manifests_carry_lineage(demo_run):
    config, _ = demo_run
    crops = manifests(config.workspace)["crops"]
    assert {
        "crop_path",
        "location",
        "camera",
        "video_id",
        "tracklet_id",
        "frame_index",
        "timestamp",
        "x1",
        "y1",
        "x2",
        "y2",
        "score",
        "split",
        "anonymization",
        "model",
    } <= set(crops.columns)
    row = crops.iloc[0]
    videos = manifests(config.workspace)["videos"].set_index("video_id")
    start = videos.loc[row["video_id"], "start_time"]
    assert row["timestamp"] == start + pd.Timedelta(seconds=row["timestamp_s"])
    assert str(row["timestamp"].tz) == "UTC"
    assert json.loads(row["anonymization"])["method"] == "median"
    assert row["model"].startswith("yolox_onnx:yolox_nano.onnx@sha256:695e750a")
    # The explicit local start time 12:11:17 (Europe/Berlin, CET) is 11:11:17 UTC.
    assert videos.loc[CYCLIST_VIDEO, "start_time"] == pd.Timestamp("2020-02-20 11:11:17", tz="UTC")


def test_tracklet_summary_describes_each_tracklet(demo_run):
    config, _ = demo_run
    tables = manifests(config.workspace)
    rows, summary = tables["tracklets"], tables["tracklet_summary"].set_index("tracklet_id")
    assert set(summary.index) == set(rows["tracklet_id"])
    counts = rows.groupby("tracklet_id").size()
    assert (summary.loc[counts.index, "n_boxes"] == counts).all()
    spans = rows.groupby("tracklet_id")["timestamp_s"].agg(["min", "max"])
    assert np.allclose(summary.loc[spans.index, "duration_s"], spans["max"] - spans["min"])


def test_every_crop_on_disk_is_blurred(demo_run):
    config, _ = demo_run
    tables = manifests(config.workspace)
    crops, videos = tables["crops"], tables["videos"].set_index("video_id")
    assert len(crops) > 20
    for video_id, rows in crops.groupby("video_id"):
        meta = videos.loc[video_id]
        by_frame = {i: g for i, g in rows.groupby("frame_index")}
        for frame in video.frames(Path(meta["path"]), meta["fps"], wanted=set(by_frame)):
            for row in by_frame[frame.index].itertuples():
                x1, y1, x2, y2 = clip_box(
                    np.array([row.x1, row.y1, row.x2, row.y2]), meta["width"], meta["height"]
                )
                raw = frame.image[y1:y2, x1:x2]
                written = cv2.imread(str(config.workspace / row.crop_path))
                assert written.shape == raw.shape
                anonymization = json.loads(row.anonymization)
                sharpness = cv2.Laplacian(
                    cv2.cvtColor(written, cv2.COLOR_BGR2GRAY), cv2.CV_64F
                ).var()
                raw_sharpness = cv2.Laplacian(
                    cv2.cvtColor(raw, cv2.COLOR_BGR2GRAY), cv2.CV_64F
                ).var()
                assert sharpness < 0.75 * raw_sharpness, row.crop_path  # edges (faces) are softened
                assert row.audit_passed, row.crop_path
                if anonymization["audit"]["escalations"] > 0:
                    # the audit found a face and blurred this crop harder: no plain median any more
                    continue
                to_raw = np.abs(written.astype(float) - raw).mean()
                expected, info = anonymize_crop(raw, config.anonymize)  # median; head 2x wider
                assert info["window_px"] == anonymization["window_px"]
                to_blurred = np.abs(written.astype(float) - expected).mean()
                # it is the blurred crop, not the raw one
                assert to_blurred < 0.5 * to_raw, row.crop_path


def test_rerun_does_no_work_and_changes_no_file(demo_run):
    config, _ = demo_run
    before = file_digests(config.workspace)
    mtimes = {
        p: p.stat().st_mtime_ns
        for p in config.workspace.rglob("*")
        if p.is_file() and p.name != ".lock"
    }
    report = run_pipeline(config, log=lambda line: None)
    assert report.done == [] and not report.failed
    assert len(report.skipped) == 6 * len(config.videos)
    assert file_digests(config.workspace) == before
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes


def test_changed_parameter_redoes_only_affected_stages(demo_run, tmp_path):
    config, _ = demo_run
    changed = config.model_copy(
        update={
            "split": config.split.model_copy(
                update={"validation_start_minute": 11, "validation_minutes": 1, "guard_s": 0}
            )
        }
    )
    report = run_pipeline(changed, log=lambda line: None)
    assert {stage for stage, _ in report.done} == {"split"}
    assert len(report.done) == len(config.videos)
    crops = pd.read_parquet(config.workspace / "manifests" / "crops")
    # both cyclists crossed in minute 11 of their hours
    assert set(crops["split"]) == {"validation"}
    run_pipeline(config, log=lambda line: None)  # restore for the other tests


def test_killed_run_then_rerun_equals_uninterrupted_run(demo_run, tmp_path):
    config, _ = demo_run
    workspace = tmp_path / "killed"
    process = subprocess.Popen(
        [sys.executable, "-m", "cyclist_dataset", "run", str(DEMO), "--workspace", str(workspace)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while (
        len(list((workspace / "stages" / "detect").glob("*.parquet"))) < 2
        and time.monotonic() < deadline
    ):
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL  # killed mid-run, during a later video's detect stage
    assert len(list((workspace / "manifests" / "crops").glob("*.parquet"))) < len(config.videos)

    report = run_pipeline(load_pipeline(DEMO, workspace), log=lambda line: None)
    assert not report.failed
    assert ("detect", config.videos[0].video_id) in report.skipped  # finished work is kept
    expected, actual = manifests(config.workspace), manifests(workspace)
    for name in MANIFESTS:
        pd.testing.assert_frame_equal(actual[name], expected[name])
    crop_digests = {k: v for k, v in file_digests(workspace).items() if k.startswith("crops/")}
    assert crop_digests == {
        k: v for k, v in file_digests(config.workspace).items() if k.startswith("crops/")
    }
    assert not list(workspace.rglob(f"*{TEMP_MARK}*"))


def test_new_face_model_redoes_only_the_crops(demo_run, tmp_path, monkeypatch):
    """The audit's face models are part of the anonymize stage's fingerprint, by content."""
    config, _ = demo_run
    shutil.copytree(config.workspace, tmp_path / "ws", ignore=shutil.ignore_patterns(".lock"))
    copy = config.model_copy(
        update={
            "workspace": tmp_path / "ws",
            "videos": tuple(v for v in config.videos if v.video_id == CYCLIST_VIDEO),
        }
    )
    assert run_pipeline(copy, log=lambda line: None).done == []

    real = faces.model_sha256
    monkeypatch.setattr(
        faces, "model_sha256", lambda name: "0" * 64 if name == "yunet" else real(name)
    )
    # as in a new process: model hashes are read once per run
    monkeypatch.setattr(runner, "_contexts", {})
    report = run_pipeline(copy, log=lambda line: None)
    assert not report.failed
    assert sorted(stage for stage, _ in report.done) == ["anonymize", "split"]


def _copy(config, tmp_path, video_ids):
    shutil.copytree(config.workspace, tmp_path / "ws", ignore=shutil.ignore_patterns(".lock"))
    return config.model_copy(
        update={
            "workspace": tmp_path / "ws",
            "videos": tuple(v for v in config.videos if v.video_id in video_ids),
        }
    )


def test_a_deleted_crop_redoes_that_videos_crops_and_split_only(demo_run, tmp_path):
    """A result is fresh only while the files it lists are on disk: one crop deleted by hand (or
    lost with a disk) redoes exactly its video's anonymize and split results, nothing upstream."""
    config, _ = demo_run
    copy = _copy(config, tmp_path, {v.video_id for v in config.videos})
    crops = sorted((copy.workspace / "crops").rglob("*.jpg"))
    lost = next(p for p in crops if CYCLIST_VIDEO in p.name)
    expected = lost.read_bytes()
    lost.unlink()
    report = run_pipeline(copy, log=lambda line: None)
    assert not report.failed
    assert sorted(report.done) == [("anonymize", CYCLIST_VIDEO), ("split", CYCLIST_VIDEO)]
    assert lost.read_bytes() == expected  # the same pixels again
    assert run_pipeline(copy, log=lambda line: None).done == []


def test_a_replaced_video_redoes_everything_and_a_touched_one_nothing(demo_run, tmp_path):
    """The video's content hash is part of the ingest fingerprint: new bytes under the same path
    redo every stage of that video; a new mtime alone re-reads the file once and redoes nothing
    else."""
    config, _ = demo_run
    first, second = (v for v in config.videos if v.video_id in CARS_ONLY_VIDEOS[:2])
    clip = tmp_path / "clip_2020-02-20_13-00-00.mp4"
    shutil.copy(first.source_path(), clip)
    local = first.model_copy(update={"asset": None, "path": clip, "id": "clip"})
    copy = config.model_copy(update={"workspace": tmp_path / "ws", "videos": (local,)})
    assert not run_pipeline(copy, log=lambda line: None).failed

    os.utime(clip, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched: same bytes
    report = run_pipeline(copy, log=lambda line: None)
    assert report.done == [("ingest", "clip")] and len(report.skipped) == 5

    shutil.copy(second.source_path(), clip)  # replaced: other bytes, same path
    report = run_pipeline(copy, log=lambda line: None)
    assert [stage for stage, _ in report.done] == list(STAGE_NAMES)


def test_a_crop_rewritten_with_other_bytes_is_redone(demo_run, tmp_path):
    """A result trusts its crops only while they hold the bytes it recorded (crop_sha256)."""
    config, _ = demo_run
    copy = _copy(config, tmp_path, {CYCLIST_VIDEO})
    crop = next(
        p for p in sorted((copy.workspace / "crops").rglob("*.jpg")) if CYCLIST_VIDEO in p.name
    )
    expected = crop.read_bytes()
    image = cv2.imdecode(np.frombuffer(expected, np.uint8), cv2.IMREAD_COLOR)
    crop.write_bytes(cv2.imencode(".jpg", cv2.flip(image, 1))[1].tobytes())
    report = run_pipeline(copy, log=lambda line: None)
    assert sorted(report.done) == [("anonymize", CYCLIST_VIDEO), ("split", CYCLIST_VIDEO)]
    assert crop.read_bytes() == expected


def test_a_truncated_video_fails_with_its_file_and_frame_counts(demo_run, tmp_path):
    """An MP4 cut at 30% whose index sits at the front still opens and decodes 109 of its 200
    frames: the video fails in the detect stage, naming the file; the others go on."""
    config, _ = demo_run
    source = next(v for v in config.videos if v.video_id == "Testvideo_FR20_2020-02-20_13-11-00")
    data = source.source_path().read_bytes()
    clip = tmp_path / "cut_2020-02-20_13-11-00.mp4"
    clip.write_bytes(data[: int(len(data) * 0.3)])
    cut = source.model_copy(update={"asset": None, "path": clip, "id": "cut"})
    whole = next(v for v in config.videos if v.video_id == CARS_ONLY_VIDEOS[0])
    copy = config.model_copy(update={"workspace": tmp_path / "ws", "videos": (cut, whole)})
    report = run_pipeline(copy, log=lambda line: None)
    stage, message = report.failed["cut"]
    assert stage == "detect" and str(clip) in message
    assert "decoding stopped after 109 of its 200 frames" in message
    assert whole.video_id not in report.failed and ("split", whole.video_id) in report.done
