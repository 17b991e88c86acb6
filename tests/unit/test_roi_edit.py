"""The ROI editor's logic without a browser or a video: every problem of a drawing at once, the
filter's verdict per box with the drawn polygons, what an existing file starts as, and a save that
writes only what the pipeline accepts."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from cyclist_dataset.core.config import FilterConfig, PipelineConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.roi import load_roi, roi_problems
from cyclist_dataset.errors import RoiError
from cyclist_dataset.tools import roi_edit
from cyclist_dataset.tools.frames import CameraFrame

BOWTIE = [[0, 0], [100, 100], [100, 0], [0, 100]]
SQUARE = [[10, 10], [390, 10], [390, 290], [10, 290]]
FILTER = FilterConfig(score_min=0.5, max_aspect_ratio=0.75, min_width_px=10)


def frame() -> CameraFrame:
    """A 400x300 frame with a rider standing at (100, 200) and another at (300, 200)."""
    detections = Detections(
        np.array([[80, 100, 120, 200], [280, 100, 320, 200]], np.float32),
        np.array([0.9, 0.9], np.float32),
        np.array(["person", "person"], dtype=object),
    )
    return CameraFrame(
        "cam1",
        "v",
        0,
        np.zeros((300, 400, 3), np.uint8),
        detections,
        detections.xyxy,
        None,
        np.array([None, None], dtype=object),
    )


def test_every_problem_of_a_drawing_at_once():
    problems = roi_problems(
        {
            "image_width": 400,
            "image_height": 300,
            "include": [SQUARE, BOWTIE, [[0, 0], [10, 0]]],
            "exclude": [[[0, 0], [500, 0], [0, 50]]],
        },
        "the drawing",
    )
    assert len(problems) == 3
    assert problems[0].startswith("include[1]: not a simple polygon")
    assert problems[1] == "include[2]: a polygon needs at least 3 points, got 2"
    assert problems[2] == "exclude[0]: point 1 [500.0, 0.0] lies outside the 400x300 image"
    assert roi_problems({"image_width": 400, "image_height": 300, "include": [SQUARE]}, "x") == []
    assert (
        "needs at least one polygon"
        in roi_problems({"image_width": 400, "image_height": 300, "include": []}, "x")[0]
    )


def test_check_gives_the_filters_verdict_with_the_drawn_polygons():
    hole = [[250, 150], [350, 150], [350, 250], [250, 250]]
    answer = roi_edit.check(frame(), {"include": [SQUARE], "exclude": [hole]}, FILTER)
    assert answer["problems"] == [] and answer["roi_checked"]
    assert [b["reason"] for b in answer["boxes"]] == [None, "roi"]
    assert answer["boxes"][0]["anchor"] == [100.0, 200.0]
    assert answer["share"] == pytest.approx((380 * 280 - 100 * 100) / (400 * 300))
    # not valid yet: the ROI rule is not applied, the other rules are
    invalid = roi_edit.check(frame(), {"include": [BOWTIE]}, FILTER)
    assert not invalid["roi_checked"] and invalid["problems"]
    assert [b["reason"] for b in invalid["boxes"]] == [None, None]


def pipeline(tmp_path: Path) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "workspace": tmp_path / "ws",
            "roi_dir": tmp_path / "roi",
            "location": {"name": "here", "timezone": "UTC"},
            "cameras": [{"id": "cam1"}],
            "videos": [{"camera": "cam1", "path": "v.mp4", "start_time": "2020-01-01T10:00:00"}],
        }
    )


def test_save_writes_only_what_the_pipeline_accepts(tmp_path):
    config = pipeline(tmp_path)
    with pytest.raises(RoiError, match="not a simple polygon"):
        roi_edit.save(config, "cam1", {"include": [BOWTIE]}, 400, 300)
    assert not config.roi_path("cam1").exists()
    path = roi_edit.save(
        config, "cam1", {"include": [SQUARE], "description": "the crossing"}, 400, 300
    )
    assert path == config.roi_path("cam1")
    assert load_roi(path).contains(np.array([[100, 200], [5, 5]])).tolist() == [True, False]
    assert json.loads(path.read_text())["description"] == "the crossing"


def test_the_editor_starts_from_the_file_scaled_to_the_frame(tmp_path):
    config = pipeline(tmp_path)
    assert roi_edit.existing(config, "cam1", 400, 300)["problem"] is None  # no file yet: none
    path = config.roi_path("cam1")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"image_width": 800, "image_height": 600, "include": [BOWTIE]}))
    start = roi_edit.existing(config, "cam1", 400, 300)
    assert start["include"] == [[[0, 0], [50, 50], [50, 0], [0, 50]]]
    assert "not a simple polygon" in start["problem"]
    path.write_text("{not json")
    assert "not valid JSON" in roi_edit.existing(config, "cam1", 400, 300)["problem"]
    # a size of 0 is one of the problems the editor exists to fix: shown, not a crash
    path.write_text(json.dumps({"image_width": 0, "image_height": 600, "include": [SQUARE]}))
    broken = roi_edit.existing(config, "cam1", 400, 300)
    assert "positive integers" in broken["problem"] and broken["include"] == [SQUARE]


def test_saved_points_are_numbers_whatever_json_types_came(tmp_path):
    config = pipeline(tmp_path)
    as_text = [[str(x), str(y)] for x, y in SQUARE]
    path = roi_edit.save(config, "cam1", {"include": [as_text]}, 400, 300)
    assert json.loads(path.read_text())["include"] == [[[float(x), float(y)] for x, y in SQUARE]]


def test_an_app_beyond_localhost_always_needs_a_token():
    from cyclist_dataset.errors import UserError
    from cyclist_dataset.web.server import required_token

    assert required_token("127.0.0.1", None) is None
    assert len(required_token("0.0.0.0", None) or "") >= 16  # a random one
    assert required_token("0.0.0.0", "given") == "given"
    with pytest.raises(UserError, match="must not be empty"):
        required_token("0.0.0.0", " ")
