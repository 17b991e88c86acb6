"""Bad input gives a clear error: which file, what is wrong, what to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import DEMO, REPO, cli

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.core.roi import load_roi
from cyclist_dataset.errors import ConfigError, RoiError
from cyclist_dataset.io import assets
from cyclist_dataset.pipeline.run import run_pipeline

MINIMAL = """
workspace = "ws"
roi_dir = "rois"
[location]
name = "radeberg"
[[cameras]]
id = "cam1"
[[videos]]
camera = "cam1"
path = "{video}"
start_time = 2020-02-20T13:11:00
[detect]
backend = "yolox_onnx"
"""


def pipeline_dir(tmp_path: Path, video: str, roi: object | None = None) -> Path:
    """A pipeline in tmp_path with the real Radeberg ROI (or the given ROI JSON)."""
    (tmp_path / "rois" / "radeberg").mkdir(parents=True)
    roi_file = tmp_path / "rois" / "radeberg" / "cam1.json"
    if roi is None:
        shutil.copy(REPO / "roi_definitions" / "radeberg" / "cam1.json", roi_file)
    else:
        roi_file.write_text(roi if isinstance(roi, str) else json.dumps(roi))
    (tmp_path / "p.toml").write_text(MINIMAL.format(video=video))
    return tmp_path / "p.toml"


def test_corrupt_video_is_reported_by_name_and_others_go_on(tmp_path, asset_cache):
    corrupt = tmp_path / "broken.mp4"
    good = assets.path("footage/radeberg/Testvideo_FR20_2020-02-20_13-00-00.mp4")
    corrupt.write_bytes(good.read_bytes()[:3000])  # a truncated download
    pipeline = pipeline_dir(tmp_path, "broken.mp4")
    pipeline.write_text(
        pipeline.read_text().replace(
            "[detect]", f'[[videos]]\ncamera = "cam1"\npath = "{good}"\n[detect]'
        )
    )
    result = cli("run", str(pipeline))
    assert result.returncode == 1
    assert "broken" in result.stderr and "ingest" in result.stderr
    assert "corrupt" in result.stderr or "cannot open" in result.stderr
    assert (
        tmp_path / "ws" / "manifests" / "crops" / "Testvideo_FR20_2020-02-20_13-00-00.parquet"
    ).is_file()


def test_missing_video_names_the_file(tmp_path):
    pipeline = pipeline_dir(tmp_path, "nowhere.mp4")
    report = run_pipeline(load_pipeline(pipeline), log=lambda line: None)
    stage, message = report.failed["nowhere"]
    assert (
        stage == "ingest"
        and "video not found" in message
        and str(tmp_path / "nowhere.mp4") in message
    )


@pytest.mark.parametrize(
    "roi, expected",
    [
        ("{not json", "not valid JSON"),
        (
            {"image_width": 800, "image_height": 600, "include": [[[0, 0], [10, 10]]]},
            "at least 3 points",
        ),
        (
            {
                "image_width": 800,
                "image_height": 600,
                "include": [[[0, 0], [100, 100], [100, 0], [0, 100]]],
            },
            "not a simple polygon",
        ),
        (
            {"image_width": 800, "image_height": 600, "include": [[[0, 0], [900, 0], [0, 100]]]},
            "outside the 800x600",
        ),
        ({"include": [[[0, 0], [90, 0], [0, 100]]]}, "image_width"),
        ({"image_width": 800, "image_height": 600, "include": []}, "at least one polygon"),
        (
            {
                "image_width": 800,
                "image_height": 600,
                "include": [[[0, 0], [float("nan"), 0], [0, 9]]],
            },
            "point 1 [nan, 0.0] is not a finite number pair",
        ),
    ],
)
def test_bad_roi_file_is_rejected_before_any_work(tmp_path, roi, expected):
    pipeline = pipeline_dir(tmp_path, "whatever.mp4", roi)
    result = cli("run", str(pipeline))
    assert result.returncode == 2
    assert "cam1.json" in result.stderr and expected in result.stderr
    assert not (tmp_path / "ws" / "manifests").exists()


def test_missing_roi_file(tmp_path):
    with pytest.raises(RoiError, match="ROI file not found: .*nope.json"):
        load_roi(tmp_path / "nope.json")


@pytest.mark.parametrize(
    "edit, expected",
    [
        (lambda s: s.replace('name = "radeberg"', 'name = "radeberg'), "not valid TOML"),
        (lambda s: s + "\n[filter]\nscore_min = 1.5\n", "key `filter.score_min`"),
        (lambda s: s + "\n[filter]\nscore_mni = 0.5\n", "key `filter.score_mni`: Extra inputs"),
        (
            lambda s: s.replace('camera = "cam1"', 'camera = "cam9"'),
            "'cam9' is not one of the cameras",
        ),
        (
            lambda s: s.replace("start_time = 2020-02-20T13:11:00", ""),
            "no recording start time in its file name",
        ),
        (lambda s: s + "\n[anonymize]\nwindow_px = 4\n", "window_px must be odd"),
        (
            lambda s: s.replace('path = "clip.mp4"', 'asset = "footage/nowhere.mp4"'),
            "not in the asset registry",
        ),
        (
            lambda s: s.replace("[location]", '[location]\ntimezone = "Mars/Olympus"'),
            "unknown time zone",
        ),
        (
            lambda s: s.replace("[detect]", "[detect]\nsample_fps = inf"),
            "key `detect.yolox_onnx.sample_fps`: Input should be a finite number",
        ),
        (
            lambda s: s.replace("[detect]", "[detect]\nbatch_size = 4"),
            "runtime settings (batch_size) moved to a [runtime] section",
        ),
    ],
)
def test_bad_pipeline_file_names_file_and_key(tmp_path, edit, expected):
    pipeline = pipeline_dir(tmp_path, "clip.mp4")
    pipeline.write_text(edit(pipeline.read_text()))
    with pytest.raises(ConfigError, match="p.toml") as error:
        load_pipeline(pipeline)
    assert expected in str(error.value)
    result = cli("run", str(pipeline))
    assert result.returncode == 2 and expected in result.stderr and "Traceback" not in result.stderr


def test_missing_pipeline_file(tmp_path):
    result = cli("run", str(tmp_path / "absent.toml"))
    assert result.returncode == 2 and "pipeline file not found" in result.stderr


def test_missing_detector_weights_stop_the_run_before_any_work(tmp_path):
    pipeline = pipeline_dir(tmp_path, "whatever.mp4")
    pipeline.write_text(
        pipeline.read_text().replace(
            'backend = "yolox_onnx"', 'backend = "faster_rcnn"\nweights = "nope.pth"'
        )
    )
    result = cli("run", str(pipeline))
    assert result.returncode == 2 and "p.toml: [detect]" in result.stderr
    assert f"checkpoint not found: {tmp_path / 'nope.pth'}" in result.stderr
    assert not (tmp_path / "ws" / "manifests").exists()  # stopped before any work


def test_a_model_file_that_is_not_onnx_stops_the_run_with_its_name(tmp_path):
    video = assets.path("footage/radeberg/Testvideo_FR20_2020-02-20_13-00-00.mp4")
    pipeline = pipeline_dir(tmp_path, str(video))
    (tmp_path / "model.onnx").write_text("<html>404 Not Found</html>")  # a failed download
    pipeline.write_text(
        pipeline.read_text().replace(
            'backend = "yolox_onnx"', 'backend = "yolox_onnx"\nmodel = "model.onnx"'
        )
    )
    result = cli("run", str(pipeline))
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert (
        f"{tmp_path / 'model.onnx'}: onnxruntime cannot load it as an ONNX model" in result.stderr
    )


def test_a_workspace_that_cannot_be_written_is_a_clear_error(tmp_path):
    """Even with nothing to do, a run takes the workspace's lock: a workspace it cannot write
    (here a path through a file, since tests run as root and ignore permission bits) is named."""
    (tmp_path / "a-file").write_text("")
    result = cli(
        "run", str(DEMO), "--workspace", str(tmp_path / "a-file" / "ws"), "--stages", "split"
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"cannot write to the workspace {tmp_path / 'a-file' / 'ws'}" in result.stderr


def test_unknown_stage(tmp_path):
    result = cli("run", str(DEMO), "--workspace", str(tmp_path), "--stages", "ingest,detekt")
    assert result.returncode == 2 and "unknown stage(s) ['detekt']" in result.stderr


def test_stage_without_its_upstream_says_what_to_run(tmp_path):
    result = cli("run", str(DEMO), "--workspace", str(tmp_path), "--stages", "track")
    assert result.returncode == 1 and "needs the filter stage's result" in result.stderr


def test_help_explains_every_command():
    top = cli("--help")
    assert top.returncode == 0 and "run" in top.stdout and "assets" in top.stdout
    run = cli("run", "--help")
    for option in ("--workspace", "--stages", "--force", "PIPELINE"):
        assert option in run.stdout
    fetch = cli("assets", "fetch", "--help")
    assert "--from" in fetch.stdout and "SHA-256" in fetch.stdout
    assert cli("assets", "list", "--help").returncode == 0
