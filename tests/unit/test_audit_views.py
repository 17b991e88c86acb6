"""The privacy audit's views, without models: which sizes each detector sees, how a mosaic maps
boxes back, and when a recorded verdict still counts."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from synthetic_workspace import SYNTHETIC_AUDIT

from cyclist_dataset.core.config import AuditConfig
from cyclist_dataset.stages.anonymize.audit import (
    DETECTOR_VIEWS,
    GRID_SLACK,
    View,
    _Sheet,
    _to_image,
    falls_short,
    head_height,
    render,
    scale_ladder,
    views_for,
)

CONFIG = AuditConfig()


@pytest.mark.parametrize("height", [24, 40, 64, 100, 128, 192, 256, 386, 600, 800, 1080])
def test_yunet_sees_every_face_from_12_to_200_px_at_a_size_it_finds(height):
    """Each face height the audit searches for (head region: from 12 px; whole crop: from 1/16 of
    the crop) lands 20-40 px tall in some view (within the ladder's 5% slack at the top)."""
    width = max(16, int(0.4 * height))
    views = views_for(height, width, "yunet", CONFIG)
    low, high = DETECTOR_VIEWS["yunet"].seen_px
    head = head_height(height, CONFIG)
    searched = {
        "head": range(CONFIG.face_min_px, min(head, CONFIG.face_max_px) + 1),
        "crop": range(
            int(np.ceil(max(CONFIG.face_min_px, CONFIG.crop_min_face_fraction * height))),
            min(height, CONFIG.face_max_px) + 1,
        ),
    }
    for face in [*searched["head"], *searched["crop"]]:
        seen = [face * v.scale for v in views if v.region == "crop" or face in searched["head"]]
        # (scales shrink up to GRID_SLACK to fit the models' 32-pixel grid)
        assert any(low * (1 - GRID_SLACK) * 0.999 <= s <= high / (1 - 0.05) + 1e-6 for s in seen), (
            face,
            views,
        )
    # Every resampled view comes with both interpolations; scale 1 is the stored pixels.
    for view in views:
        if view.interpolation != "none":
            assert View(view.region, view.scale, "bilinear") in views
            assert View(view.region, view.scale, "bicubic") in views
        else:
            assert view.scale == 1.0


def test_centerface_views_depend_on_the_content_not_the_crop_size():
    small = views_for(100, 40, "centerface", CONFIG)
    large = views_for(400, 160, "centerface", CONFIG)
    assert [v.region for v in small] == ["head"] * 4
    # The head region is always resized to the same heights (64 and 48 px, less GRID_SLACK at most).
    for views, height in ((small, 100), (large, 400)):
        heights = sorted({head_height(height, CONFIG) * v.scale for v in views})
        assert len(heights) == 2
        for seen, wanted in zip(heights, (48, 64), strict=True):
            assert (1 - GRID_SLACK) * wanted - 0.5 <= seen <= wanted + 0.5


def test_scale_ladder_rungs_follow_each_other():
    assert scale_ladder(12, 24, (20, 40), max_scale=10) == [pytest.approx(20 / 12, abs=1e-4)]
    rungs = scale_ladder(24, 200, (20, 40), max_scale=10)
    assert rungs[0] == pytest.approx(20 / 24, abs=1e-4)
    assert all(b == pytest.approx(a / 2, abs=1e-3) for a, b in zip(rungs, rungs[1:], strict=False))
    assert 40 / rungs[-1] >= 0.95 * 200
    # Over the pixel budget: the stored pixels, not a bigger view.
    assert scale_ladder(12, 24, (20, 40), max_scale=1.2)[0] == 1.0
    assert scale_ladder(12, 24, (20, 40), max_scale=0.5)[0] == 0.5


def test_a_mosaic_maps_each_box_back_to_its_view_and_image():
    image = np.zeros((200, 80, 3), np.uint8)
    views = views_for(200, 80, "centerface", CONFIG)
    placed = [(v, render(image, v, CONFIG)) for v in views]
    sheet = _Sheet.row(placed)
    assert sheet.shape[0] % 32 == 0 and sheet.shape[1] % 32 == 0
    canvas = np.zeros((*sheet.shape, 3), np.uint8)
    sheet.paint(canvas)
    # A box in the middle of the third view, and one in a gap between views.
    view, pixels, column = sheet.placements[2]
    h, w = pixels.shape[:2]
    inside = [column + w * 0.25, h * 0.25, column + w * 0.75, h * 0.5, 0.9]
    gap = [column - 6, 1, column - 2, 5, 0.9]
    split = sheet.split(np.array([inside, gap], np.float32))
    assert [v for v, _ in split] == [view]
    (box,) = _to_image(split[0][1], view, image, CONFIG)
    head = head_height(200, CONFIG)
    np.testing.assert_allclose(box[:4], [20, 0.25 * head, 60, 0.5 * head], atol=1.5)


def current() -> dict:
    return copy.deepcopy(SYNTHETIC_AUDIT)


def test_a_verdict_counts_only_under_an_audit_at_least_as_strict():
    assert falls_short(current(), current()) is None
    assert falls_short(None, current()) == "not audited"
    older = current() | {"version": 1}
    assert "older audit" in falls_short(older, current())
    looser = current()
    looser["thresholds"]["yunet"] = 0.8
    assert "looser yunet threshold" in falls_short(looser, current())
    stricter = current()
    stricter["thresholds"]["yunet"] = 0.5
    assert falls_short(stricter, current()) is None
    other_model = current() | {"detectors": ["yunet:other.onnx@sha256:1"]}
    assert "without yunet:synthetic.onnx" in falls_short(other_model, current())
    fewer = current()
    fewer["views"]["face_px"] = [16, 200]
    assert falls_short(fewer, current()) == "audited with fewer views"
    wider = current()
    wider["views"]["face_px"] = [8, 240]
    assert falls_short(wider, current()) is None
    other_margin = current()
    other_margin["views"]["detector_views"]["yunet"]["margin"] = 0.9
    assert falls_short(other_margin, current()) == "audited with fewer views"


def test_the_removed_upscale_setting_says_what_replaced_it():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="face_min_px"):
        AuditConfig(upscale_to_px=640)
