"""Stage functions on small synthetic inputs (no disk), beside the real-footage tests."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import shapely

from cyclist_dataset.core.config import AnonymizeConfig, FilterConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.geometry import clip_box
from cyclist_dataset.core.roi import Roi, load_roi
from cyclist_dataset.stages.anonymize import anonymize_crop, blur_window
from cyclist_dataset.stages.filter import drop_reasons

SQUARE = Roi(shapely.box(100, 100, 300, 300), 400, 400)


def detections(*rows: tuple) -> Detections:
    return Detections(
        np.array([r[:4] for r in rows], np.float32),
        np.array([r[4] for r in rows], np.float32),
        np.array([r[5] for r in rows], dtype=object),
    )


def test_filter_rules_and_their_order():
    boxes = detections(
        # kept: 40 wide, w/h 0.4, bottom-centre (170, 200) inside
        (
            150,
            100,
            190,
            200,
            0.9,
            "person",
        ),
        (150, 100, 190, 200, 0.9, "bicycle"),  # class
        (150, 100, 190, 200, 0.5, "person"),  # score
        (150, 100, 250, 200, 0.9, "person"),  # aspect ratio 1.0
        (150, 100, 160, 200, 0.5, "person"),  # score and width: the first rule wins
        (150, 100, 180, 200, 0.9, "person"),  # width 30 < 35
        (10, 100, 50, 200, 0.9, "person"),  # outside the ROI
        (150, 200, 190, 300, 0.9, "person"),  # bottom-centre (170, 300) on the boundary: inside
        # box reaches into the ROI but its anchor (100, 305) is outside
        (
            80,
            200,
            120,
            305,
            0.9,
            "person",
        ),
    )
    config = FilterConfig(score_min=0.7, max_aspect_ratio=0.6, min_width_px=35)
    assert drop_reasons(boxes, SQUARE, config).tolist() == [
        None,
        "class",
        "score",
        "aspect_ratio",
        "score",
        "width",
        "roi",
        None,
        "roi",
    ]


def test_real_roi_keeps_the_road_and_drops_the_sidewalks():
    roi = load_roi(__import__("support").REPO / "roi_definitions" / "radeberg" / "cam1.json")
    road = np.array([[400, 300], [170, 240], [560, 430]])
    # left pole, right sidewalk, far sidewalk
    sidewalks = np.array([[30, 180], [780, 150], [300, 90]])
    assert roi.contains(road).all() and not roi.contains(sidewalks).any()


def test_roi_scales_to_another_resolution():
    scaled = SQUARE.scaled_to(800, 800)
    assert scaled.contains(np.array([[250, 250], [590, 590]])).all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        SQUARE.scaled_to(800, 400)
    assert "aspect ratios differ" in str(caught[0].message)


def test_exclude_polygons_cut_holes(tmp_path):
    path = tmp_path / "cam.json"
    path.write_text(
        json.dumps(
            {
                "image_width": 400,
                "image_height": 400,
                "include": [[[0, 0], [400, 0], [400, 400], [0, 400]]],
                "exclude": [[[100, 100], [200, 100], [200, 200], [100, 200]]],
            }
        )
    )
    assert load_roi(path).contains(np.array([[50, 50], [150, 150]])).tolist() == [True, False]


@pytest.mark.parametrize(
    "height, window", [(128, 5), (64, 3), (20, 3), (100, 5), (256, 11), (400, 17), (129, 7)]
)
def test_blur_window_scales_with_crop_height_and_stays_odd(height, window):
    assert blur_window(height, AnonymizeConfig()) == window


def test_anonymize_crop_changes_a_textured_crop():
    rng = np.random.default_rng(0)
    crop = rng.integers(0, 255, (128, 64, 3), dtype=np.uint8)
    blurred, params = anonymize_crop(crop, AnonymizeConfig(method="gaussian"))
    # The head region (top 30%: 39 rows) with twice the window.
    assert params == {
        "method": "gaussian",
        "window_px": 5,
        "head_window_px": 11,
        "reference": [5, 128],
    }
    assert blurred.std() < 0.6 * crop.std()
    assert blurred[:39].std() < blurred[39:].std()
    plain, _ = anonymize_crop(crop, AnonymizeConfig(method="gaussian", head_blur_factor=1))
    np.testing.assert_array_equal(plain[39:], blurred[39:])
    assert not np.array_equal(plain[:39], blurred[:39])


def test_crop_is_the_rider_or_its_union_with_the_bicycle():
    from types import SimpleNamespace

    from cyclist_dataset.stages.anonymize import crop_box

    rider = dict(x1=100.0, y1=50.0, x2=140.0, y2=150.0)
    paired = SimpleNamespace(
        **rider, bicycle_x1=90.0, bicycle_y1=110.0, bicycle_x2=160.0, bicycle_y2=170.0
    )
    unpaired = SimpleNamespace(
        **rider, bicycle_x1=None, bicycle_y1=None, bicycle_x2=None, bicycle_y2=None
    )
    assert crop_box(paired, "rider").tolist() == [100, 50, 140, 150]
    assert crop_box(paired, "rider_and_bicycle").tolist() == [90, 50, 160, 170]
    assert crop_box(unpaired, "rider_and_bicycle").tolist() == [100, 50, 140, 150]


def test_clip_box_rounds_outwards_and_stays_in_the_frame():
    assert clip_box(np.array([-3.2, 10.7, 50.1, 700.0]), 800, 600) == (0, 10, 51, 600)
