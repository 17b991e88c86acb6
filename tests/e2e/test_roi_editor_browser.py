"""The ROI editor in a real browser (Debian's chromium driven by Playwright) on the Radeberg camera:
a new location's engineer draws the road, sees a crossing edge flagged and fixes it by dragging a
point, sees an exclude polygon drop the cyclist's box by the ROI rule, saves, and `roi check`
accepts the file. The frame the browser was served has every detected person blurred."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.sync_api import sync_playwright  # a dev dependency (make installs it)
from support import BROWSER_ARGS, DEMO, AppServer, chromium, cli

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.core.geometry import clip_box, pad_box
from cyclist_dataset.tools.frames import BLUR_MARGIN, camera_frame

NEAR_CYCLIST = ("Testvideo_FR20_2020-02-20_13-11-00", 120)  # the near cyclist mid-crossing
# A road polygon drawn with two points in the wrong order (its edges cross), and where its second
# point is dragged to make it simple: the cyclist's wheels (340, 284) are then inside.
BOWTIE = [(10, 250), (790, 590), (790, 80), (10, 590)]
FIXED_SECOND = (400, 260)
AROUND_WHEELS = [(300, 270), (380, 270), (380, 300), (300, 300)]


@pytest.fixture
def pipeline(tmp_path) -> Path:
    """The demo pipeline with an empty ROI folder: camera cam1 has no ROI yet."""
    text = DEMO.read_text().replace(
        'roi_dir = "../roi_definitions"', f'roi_dir = "{tmp_path / "roi"}"'
    )
    path = tmp_path / "pipelines" / "new_location.toml"
    path.parent.mkdir()
    path.write_text(text.replace('workspace = "../workspace/demo"', 'workspace = "../workspace"'))
    return path


@pytest.fixture
def page(pipeline) -> Iterator:
    server = AppServer("roi", "edit", str(pipeline), "--camera", "cam1", path="/roi/cam1")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=BROWSER_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.goto(f"{server.url}/roi/cam1?video={NEAR_CYCLIST[0]}&frame={NEAR_CYCLIST[1]}")
        page.wait_for_function("document.getElementById('frame-image').naturalWidth > 0")
        page.server_url = server.url  # type: ignore[attr-defined]
        try:
            yield page
        finally:
            browser.close()
            server.stop()


def checked(page, action) -> None:
    """Do something that changes the polygons, and wait for the server's check of it."""
    before = page.evaluate("Number(document.body.dataset.checked || 0)")
    action()
    page.wait_for_function(f"Number(document.body.dataset.checked || 0) > {before}")
    page.wait_for_function(
        "!document.getElementById('problems').textContent.includes('being drawn')"
    )


def at(page, point: tuple[float, float]) -> tuple[float, float]:
    """Page coordinates of a frame pixel (the SVG shows the 800x600 frame at its size)."""
    box = page.locator("#overlay").bounding_box()
    return box["x"] + point[0] * box["width"] / 800, box["y"] + point[1] * box["height"] / 600


def draw(page, kind: str, points) -> None:
    page.click(f"#new-{kind}")
    for point in points:
        page.mouse.click(*at(page, point))
    checked(page, lambda: page.keyboard.press("Enter"))


def test_draw_an_roi_fix_it_save_it_and_roi_check_accepts_it(pipeline, page):
    roi_file = pipeline.parent.parent / "roi" / "radeberg" / "cam1.json"
    page.wait_for_function("document.body.dataset.checked")
    assert "include` needs at least one polygon" in page.locator("#problems").inner_text()
    assert page.locator("#save").is_disabled()

    # Edges that cross are flagged at once, and Save stays off.
    draw(page, "include", BOWTIE)
    assert "not a simple polygon" in page.locator("#problems").inner_text()
    assert page.locator("polygon.include.invalid").count() == 1
    assert page.locator("#save").is_disabled()

    # Drag the second point: the polygon is simple, the cyclist's box is kept (green).
    vertex = page.locator("circle.vertex").nth(1)
    target = at(page, FIXED_SECOND)

    def drag() -> None:
        vertex.hover()
        page.mouse.down()
        page.mouse.move(*target, steps=5)
        page.mouse.up()

    checked(page, drag)
    assert page.locator("#problems li").count() == 0
    assert page.locator("rect.box.kept").count() == 1
    assert page.locator("#save").is_enabled()

    # An exclude polygon around the wheels drops the box by the ROI rule (red), and goes again.
    draw(page, "exclude", AROUND_WHEELS)
    assert page.locator('rect.box.dropped[data-reason="roi"]').count() == 1
    assert page.locator("rect.box.kept").count() == 0
    page.mouse.click(*at(page, (320, 276)))  # inside the exclude polygon, off the box's edges
    checked(page, lambda: page.click("#delete-polygon"))
    assert page.locator("polygon.exclude").count() == 0
    assert page.locator("rect.box.kept").count() == 1

    assert not roi_file.exists()
    page.click("#save")
    page.wait_for_function("document.getElementById('message').textContent.startsWith('saved')")
    saved = json.loads(roi_file.read_text())
    assert (saved["image_width"], saved["image_height"]) == (800, 600)
    expected = [BOWTIE[0], FIXED_SECOND, *BOWTIE[2:]]
    np.testing.assert_allclose(saved["include"][0], expected, atol=2)
    assert saved["exclude"] == []

    accepted = cli("roi", "check", str(pipeline))
    assert accepted.returncode == 0, accepted.stderr
    assert "ok   cam1" in accepted.stdout


def test_the_frame_served_has_every_detected_person_blurred(pipeline, page):
    served = page.request.get(
        f"{page.server_url}/roi/cam1/frame.jpg?video={NEAR_CYCLIST[0]}&frame={NEAR_CYCLIST[1]}"
    )
    assert served.ok and served.headers["content-type"] == "image/jpeg"
    shown = cv2.imdecode(np.frombuffer(served.body(), np.uint8), cv2.IMREAD_COLOR)
    frame = camera_frame(load_pipeline(pipeline), "cam1", *NEAR_CYCLIST)
    raw = frame.image
    assert shown.shape == raw.shape
    assert len(frame.persons) >= 2  # the cyclist and a pedestrian at the frame's edge

    def sharpness(image: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    outside = np.ones(raw.shape[:2], bool)
    for box in frame.persons:
        x1, y1, x2, y2 = clip_box(box, raw.shape[1], raw.shape[0])
        ours, theirs = shown[y1:y2, x1:x2], raw[y1:y2, x1:x2]
        # every person box: its detail gone (a blur), not just re-encoded
        assert sharpness(ours) < 0.5 * sharpness(theirs), box
        assert np.abs(ours.astype(int) - theirs).mean() > 3, box
        px1, py1, px2, py2 = clip_box(pad_box(box, BLUR_MARGIN), raw.shape[1], raw.shape[0])
        outside[py1:py2, px1:px2] = False
    # elsewhere the frame is the recorded one (JPEG's loss only)
    difference = np.abs(shown.astype(int) - raw)[outside]
    assert difference.mean() < 3
