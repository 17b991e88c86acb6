"""The detect stage on real frames with the real YOLOX-nano model, and its parts on small inputs."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import CYCLIST_VIDEO, REPO

from cyclist_dataset.core.config import FasterRcnnConfig, RuntimeConfig, YoloxConfig, load_pipeline
from cyclist_dataset.errors import UserError
from cyclist_dataset.io import assets, video
from cyclist_dataset.io.hashing import sha256_of
from cyclist_dataset.pipeline.run import run_pipeline
from cyclist_dataset.stages.detect import detect_frames, make_detector
from cyclist_dataset.stages.detect.pairing import pair_riders
from cyclist_dataset.stages.detect.yolox import choose_providers

REFERENCE = json.loads(
    (REPO / "tests" / "fixtures" / "radeberg_cyclist_reference_boxes.json").read_text()
)
YOLOX = YoloxConfig()


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


@pytest.fixture(scope="module")
def cyclist_detections() -> pd.DataFrame:
    path = assets.path(REFERENCE["video"])
    wanted = {int(i) for i in REFERENCE["frames"]}
    table = detect_frames(video.frames(path, 20.0, wanted=wanted), make_detector(YOLOX), "v", YOLOX)
    return table.to_pandas()


@pytest.mark.parametrize(
    "frame, cls", [(f, c) for f, boxes in REFERENCE["frames"].items() for c in boxes]
)
def test_yolox_finds_rider_and_bicycle_where_checked_by_eye(cyclist_detections, frame, cls):
    rows = cyclist_detections[
        (cyclist_detections["frame_index"] == int(frame))
        & (cyclist_detections["class_name"] == cls)
    ]
    reference = REFERENCE["frames"][frame][cls]
    best = max(rows.itertuples(), key=lambda r: iou((r.x1, r.y1, r.x2, r.y2), reference))
    assert best.score > 0.5
    assert iou((best.x1, best.y1, best.x2, best.y2), reference) >= 0.5


def test_rider_is_paired_with_its_bicycle(cyclist_detections):
    frame = cyclist_detections[cyclist_detections["frame_index"] == 55].set_index("detection_id")
    rider_ref, bicycle_ref = (
        REFERENCE["frames"]["55"]["person"],
        REFERENCE["frames"]["55"]["bicycle"],
    )
    rider = max(
        frame[frame["class_name"] == "person"].itertuples(),
        key=lambda r: iou((r.x1, r.y1, r.x2, r.y2), rider_ref),
    )
    bicycle = frame.loc[rider.bicycle_detection_id]
    assert bicycle["class_name"] == "bicycle"
    assert iou((bicycle.x1, bicycle.y1, bicycle.x2, bicycle.y2), bicycle_ref) >= 0.5
    assert (rider.bicycle_x1, rider.bicycle_score) == (bicycle.x1, bicycle.score)
    # Bicycles and riderless persons carry no pairing.
    assert frame[frame["class_name"] == "bicycle"]["bicycle_detection_id"].isna().all()


def test_pairing_is_one_bicycle_per_rider_resolved_globally():
    persons = np.array([[0, 0, 50, 100], [40, 0, 90, 100], [300, 0, 340, 100]], float)
    # Bicycle 0 is covered 60% by person 0 and 100% by person 1; bicycle 1 only by person 1 (70%).
    # Greedy by best overlap would give bicycle 0 to person 1 and leave bicycle 1 unpaired.
    bicycles = np.array([[20, 50, 70, 100], [55, 50, 105, 100]], float)
    assert pair_riders(persons, bicycles, min_overlap=0.3).tolist() == [0, 1, -1]
    assert pair_riders(persons, bicycles[:0], 0.3).tolist() == [-1, -1, -1]
    assert pair_riders(persons[:0], bicycles, 0.3).tolist() == []


def test_sampling_picks_frames_by_timestamp(asset_cache):
    path = assets.path("footage/radeberg/Testvideo_Cars-Cyclist_FR20_2020-01-01_00-00-00.mp4")
    picked = [f.timestamp_s for f in video.frames(path, 20.0, sample_fps=5.0)]
    assert picked == pytest.approx([i * 0.2 for i in range(15)])
    # A rate that does not divide the frame rate: the first frame at or after each k / 7 s, no
    # drift.
    picked = [f.timestamp_s for f in video.frames(path, 20.0, sample_fps=7.0)]
    assert len(picked) == 21
    for k, t in enumerate(picked):
        assert k / 7 <= t + 1e-9 < k / 7 + 1 / 20


def test_sampled_detect_stage_records_frame_and_timestamp(tmp_path):
    config = load_pipeline(REPO / "pipelines" / "demo.toml", tmp_path / "ws")
    config = config.model_copy(
        update={
            "videos": config.videos[:1],
            "detect": config.detect.model_copy(update={"sample_fps": 5.0}),
        }
    )
    assert not run_pipeline(config, ("ingest", "detect"), log=lambda line: None).failed
    detections = pd.read_parquet(tmp_path / "ws" / "stages" / "detect")
    frames = sorted(set(detections["frame_index"]))
    assert set(frames) <= set(range(0, 60, 4)) and len(frames) >= 12
    assert np.allclose(detections["timestamp_s"], detections["frame_index"] / 20.0)


def test_cyclist_stays_one_tracklet_where_its_bicycle_was_missed(demo_run):
    config, _ = demo_run
    tracklets = pd.read_parquet(config.workspace / "manifests" / "tracklets")
    rider = tracklets[tracklets["video_id"] == CYCLIST_VIDEO]
    assert rider["tracklet_id"].nunique() == 1
    paired = rider["bicycle_detection_id"].notna()
    # bicycle missed in many frames, rider kept throughout
    assert paired.any() and (~paired).sum() >= 10


def la_street_pipeline(tmp_path: Path, require_bicycle: bool) -> Path:
    """The LA sidewalk camera (320x240): pedestrians only. The ROI is the whole frame, so only the
    cyclist rule (rider paired with a bicycle) can keep them out."""
    (tmp_path / "roi" / "la_street").mkdir(parents=True)
    (tmp_path / "roi" / "la_street" / "cam1.json").write_text(
        json.dumps(
            {
                "image_width": 320,
                "image_height": 240,
                "include": [[[0, 0], [320, 0], [320, 240], [0, 240]]],
            }
        )
    )
    pipeline = tmp_path / "la.toml"
    pipeline.write_text(f"""
workspace = "ws"
roi_dir = "roi"
[location]
name = "la_street"
timezone = "America/Los_Angeles"
[[cameras]]
id = "cam1"
[[videos]]
camera = "cam1"
asset = "footage/la_street/68position_001.mp4"
start_time = 2019-06-01T12:00:00
[detect]
backend = "yolox_onnx"
[filter]
min_width_px = 10
max_aspect_ratio = 0.75
[track]
require_bicycle = {str(require_bicycle).lower()}
""")
    return pipeline


def test_pedestrians_are_not_cyclists(tmp_path):
    without_rule = run_pipeline(
        load_pipeline(la_street_pipeline(tmp_path / "off", False)), log=lambda line: None
    )
    assert not without_rule.failed
    walkers = pd.read_parquet(tmp_path / "off" / "ws" / "manifests" / "tracklets")
    assert walkers["tracklet_id"].nunique() >= 1  # the pedestrians do form tracklets...
    with_rule = run_pipeline(
        load_pipeline(la_street_pipeline(tmp_path / "on", True)), log=lambda line: None
    )
    assert not with_rule.failed
    assert pd.read_parquet(
        tmp_path / "on" / "ws" / "manifests" / "tracklets"
    ).empty  # ...but none is a cyclist


def test_providers_never_default_to_azure():
    assert choose_providers(()) in (
        ["CPUExecutionProvider"],
        ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    assert choose_providers(("CPUExecutionProvider",)) == ["CPUExecutionProvider"]
    with pytest.raises(UserError, match="not available here"):
        choose_providers(("TensorrtExecutionProvider",))


def test_decoding_runs_ahead_in_a_thread_and_errors_reach_the_consumer():
    def slow_source():
        yield from range(3)
        raise RuntimeError("decoder broke")

    received = []
    with pytest.raises(RuntimeError, match="decoder broke"):
        for item in video.prefetched(slow_source()):
            received.append(item)
    assert received == [0, 1, 2]

    # The producer runs ahead while the consumer still holds an item (decoding overlaps inference),
    # and never more than ``depth`` items ahead (memory stays bounded). Checked by events, not
    # timing.
    produced = []
    ran_ahead = threading.Event()

    def producer():
        for i in range(10):
            produced.append(i)
            if i == 3:
                ran_ahead.set()
            yield i

    seen = []
    for item in video.prefetched(producer(), depth=2):
        if item == 0:
            assert ran_ahead.wait(timeout=30), "the producer did not run ahead of the consumer"
            time.sleep(0.05)  # let it fill the buffer: it must stop at the bound
            assert len(produced) <= 0 + 1 + 2 + 1  # held item, the buffer, one blocked in put()
        seen.append(item)
    assert seen == list(range(10))


def test_faster_rcnn_runs_through_the_pipeline_from_a_local_checkpoint(tmp_path):
    import pyarrow.parquet as pq
    import torch

    from cyclist_dataset.stages.detect.faster_rcnn import FasterRcnnDetector

    checkpoint = tmp_path / "mobilenet320.pth"
    torch.save(
        FasterRcnnDetector("fasterrcnn_mobilenet_v3_large_320_fpn", None).model.state_dict(),
        checkpoint,
    )
    config = load_pipeline(REPO / "pipelines" / "demo.toml", tmp_path / "ws")
    config = config.model_copy(
        update={
            "videos": config.videos[:1],
            "detect": FasterRcnnConfig(
                architecture="fasterrcnn_mobilenet_v3_large_320_fpn",
                weights=str(checkpoint),
                sample_fps=2.0,
            ),
            "runtime": RuntimeConfig(batch_size=2),
        }
    )
    assert not run_pipeline(config, ("ingest", "detect"), log=lambda line: None).failed
    target = tmp_path / "ws" / "stages" / "detect" / f"{config.videos[0].video_id}.parquet"
    params = json.loads(pq.read_schema(target).metadata[b"cyclist_dataset.params"])
    assert params["model"] == (
        "torchvision:fasterrcnn_mobilenet_v3_large_320_fpn:file=mobilenet320.pth"
        f"@sha256:{sha256_of(checkpoint)}"
    )
    assert params["weights_sha256"] == sha256_of(checkpoint)


def test_config_and_backend_agree_on_architectures():
    from cyclist_dataset.core.config import FASTER_RCNN_ARCHITECTURES
    from cyclist_dataset.stages.detect.faster_rcnn import ARCHITECTURES

    assert set(FASTER_RCNN_ARCHITECTURES) == set(ARCHITECTURES)
