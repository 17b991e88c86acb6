"""ROI tooling on the real Radeberg camera: `roi preview` draws the truth, `roi check` finds
problems."""

from __future__ import annotations

import json
import shutil

import cv2
import numpy as np
from support import DEMO, REPO, cli

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.tools.roi_preview import INCLUDE, KEPT, preview_frame

NEAR_CYCLIST = ("Testvideo_FR20_2020-02-20_13-11-00", 120)  # the near cyclist mid-crossing


def test_preview_shows_roi_and_kept_cyclist_over_the_real_frame(tmp_path):
    out = tmp_path / "roi.png"
    result = cli(
        "roi",
        "preview",
        str(DEMO),
        "--camera",
        "cam1",
        "--video",
        NEAR_CYCLIST[0],
        "--frame",
        str(NEAR_CYCLIST[1]),
        "--out",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    assert "kept" in result.stdout
    image = cv2.imread(str(out))
    assert image.shape == (600, 800, 3)
    # The ROI outline passes through its first vertex (0, 260)...
    roi = json.loads((REPO / "roi_definitions" / "radeberg" / "cam1.json").read_text())
    x, y = roi["include"][0][1]
    patch = image[y - 3 : y + 4, x - 3 : x + 4].reshape(-1, 3)
    assert (np.abs(patch.astype(int) - INCLUDE).sum(axis=1) < 60).any()
    # ...and the cyclist's box is drawn green (kept) where the detector finds it.
    config = load_pipeline(DEMO)
    _, found, reasons = preview_frame(config, "cam1", *NEAR_CYCLIST)
    kept = [box for box, reason in zip(found.xyxy, reasons, strict=False) if reason is None]
    assert len(kept) == 1
    x1, y1, x2, y2 = kept[0].round().astype(int)
    edge = image[y1:y2, x1 - 1 : x1 + 2].reshape(-1, 3)
    assert (np.abs(edge.astype(int) - KEPT).sum(axis=1) < 60).mean() > 0.5


def test_preview_blurs_persons_unless_raw_frames_are_asked_for_explicitly(tmp_path):
    def preview(*extra: str) -> tuple[np.ndarray, str]:
        out = tmp_path / f"preview{len(extra)}.png"
        args = ["--video", NEAR_CYCLIST[0], "--frame", str(NEAR_CYCLIST[1]), "--out", str(out)]
        result = cli("roi", "preview", str(DEMO), "--camera", "cam1", *args, *extra)
        assert result.returncode == 0, result.stderr
        return cv2.imread(str(out)), result.stderr

    blurred, quiet = preview()
    raw, warned = preview("--raw-unblurred-persons")
    assert "WARNING" not in quiet and "shows persons unblurred" in warned
    _, found, reasons = preview_frame(load_pipeline(DEMO), "cam1", *NEAR_CYCLIST)
    x1, y1, x2, y2 = next(b for b, r in zip(found.xyxy, reasons, strict=True) if r is None).astype(
        int
    )
    inner = (slice(y1 + 4, y2 - 4), slice(x1 + 4, x2 - 4))  # inside the drawn box's edges

    def sharpness(image: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var())

    assert sharpness(blurred[inner]) < 0.5 * sharpness(raw[inner])


def test_preview_explains_a_bad_camera_or_frame(tmp_path):
    result = cli("roi", "preview", str(DEMO), "--camera", "cam7", "--out", str(tmp_path / "x.png"))
    assert (
        result.returncode == 2 and "cam7" in result.stderr and "cameras: ['cam1']" in result.stderr
    )
    result = cli(
        "roi",
        "preview",
        str(DEMO),
        "--camera",
        "cam1",
        "--frame",
        "5000",
        "--out",
        str(tmp_path / "x.png"),
    )
    assert result.returncode == 2 and "outside" in result.stderr


def test_check_passes_the_demo_and_fails_a_broken_file(tmp_path):
    ok = cli("roi", "check", str(DEMO))
    assert ok.returncode == 0 and "ok   cam1" in ok.stdout
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    (tmp_path / "roi_definitions" / "radeberg").mkdir(parents=True)
    (tmp_path / "roi_definitions" / "radeberg" / "cam1.json").write_text(
        json.dumps(
            {
                "image_width": 800,
                "image_height": 600,
                "include": [[[0, 0], [100, 100], [100, 0], [0, 100]]],
            }
        )
    )
    bad = cli("roi", "check", str(tmp_path / "pipelines" / "demo.toml"))
    assert (
        bad.returncode == 1 and "FAIL cam1" in bad.stderr and "not a simple polygon" in bad.stderr
    )


def test_check_reports_scaling_for_another_resolution(tmp_path):
    shutil.copytree(REPO / "pipelines", tmp_path / "pipelines")
    (tmp_path / "roi_definitions" / "radeberg").mkdir(parents=True)
    roi = json.loads((REPO / "roi_definitions" / "radeberg" / "cam1.json").read_text())
    # drawn on a 16:10 frame; the videos are 4:3
    roi["image_width"], roi["image_height"] = (
        1600,
        1000,
    )
    roi["include"] = [[[x * 2, y * 5 // 3] for x, y in roi["include"][0]]]
    (tmp_path / "roi_definitions" / "radeberg" / "cam1.json").write_text(json.dumps(roi))
    result = cli("roi", "check", str(tmp_path / "pipelines" / "demo.toml"))
    assert result.returncode == 0 and "scaled and stretched" in result.stdout


def test_filter_records_how_many_boxes_each_rule_dropped(demo_run):
    import pandas as pd
    import pyarrow.parquet as pq

    config, _ = demo_run
    for video in config.videos:
        path = config.workspace / "manifests" / "detections" / f"{video.video_id}.parquet"
        recorded = json.loads(pq.read_schema(path).metadata[b"cyclist_dataset.params"])
        rows = pd.read_parquet(path)
        assert recorded["dropped"] == {
            r: int((rows["drop_reason"] == r).sum())
            for r in ("class", "score", "aspect_ratio", "width", "roi")
        }
        assert recorded["kept"] == int(rows["kept"].sum())
