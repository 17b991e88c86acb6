"""The torchvision Faster R-CNN backend: plumbing with random weights, the offline error, local
checkpoints, devices, and (when the COCO file is in the torch cache) a real detection."""

from __future__ import annotations

import argparse
import time
import urllib.error
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from cyclist_dataset.errors import UserError
from cyclist_dataset.io import assets
from cyclist_dataset.io.hashing import sha256_of
from cyclist_dataset.stages.detect import faster_rcnn
from cyclist_dataset.stages.detect.faster_rcnn import (
    ARCHITECTURES,
    FasterRcnnDetector,
    cache_file,
    choose_device,
)

LIGHT = "fasterrcnn_mobilenet_v3_large_320_fpn"
VIDEO = "footage/radeberg/Testvideo_Cars-Cyclist_FR20_2020-01-01_00-00-00.mp4"
RIDER_BOX = (200, 128, 260, 240)  # roughly where the cyclist is in frame 30


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Frames 30 and 31 of the cyclist clip: 600x800 BGR, a rider near RIDER_BOX."""
    capture = cv2.VideoCapture(str(assets.path(VIDEO)))
    capture.set(cv2.CAP_PROP_POS_FRAMES, 30)
    images = [capture.read()[1] for _ in range(2)]
    capture.release()
    assert all(image is not None and image.shape == (600, 800, 3) for image in images)
    return images


def random_detector(score_min: float = 0.3, believe: str = "person") -> FasterRcnnDetector:
    """The light model with random weights, its classifier biased so every box is `believe`: random
    scores are ~1/91 each, so without this no requested class would reach score_min."""
    torch.manual_seed(0)
    detector = FasterRcnnDetector(LIGHT, None, score_min=score_min, device="cpu")
    categories = ARCHITECTURES[LIGHT][1].DEFAULT.meta["categories"]
    with torch.no_grad():
        bias = detector.model.roi_heads.box_predictor.cls_score.bias
        bias.zero_()
        bias[categories.index(believe)] = 10.0
    return detector


def test_every_architecture_builds_with_random_weights() -> None:
    assert set(ARCHITECTURES) == {
        "fasterrcnn_resnet50_fpn_v2",
        "fasterrcnn_resnet50_fpn",
        "fasterrcnn_mobilenet_v3_large_fpn",
        LIGHT,
    }
    for name in ARCHITECTURES:
        detector = FasterRcnnDetector(name, None, device="cpu", nms_iou=0.45)
        assert detector.identity == f"torchvision:{name}:weights=none (random, tests only)"
        assert detector.model.roi_heads.nms_thresh == 0.45
        assert not detector.model.training


def test_batch_of_real_frames(frames: list[np.ndarray]) -> None:
    detector = random_detector(score_min=0.3)
    found = detector.detect(frames)
    assert len(found) == 2
    for d in found:
        assert len(d) > 0
        assert d.xyxy.dtype == np.float32 and d.xyxy.shape == (len(d), 4)
        assert d.score.dtype == np.float32 and (d.score >= 0.3).all()
        assert (d.xyxy[:, [0, 2]] >= 0).all() and (
            d.xyxy[:, [0, 2]] <= 800
        ).all()  # frame pixels, not 320
        assert (d.xyxy[:, [1, 3]] >= 0).all() and (d.xyxy[:, [1, 3]] <= 600).all()
        assert (d.xyxy[:, 2] >= d.xyxy[:, 0]).all() and (d.xyxy[:, 3] >= d.xyxy[:, 1]).all()
        assert set(d.class_name) == {"person"}
    assert detector.detect([]) == []


def test_label_map_by_name(frames: list[np.ndarray]) -> None:
    categories = ARCHITECTURES[LIGHT][1].DEFAULT.meta["categories"]
    assert [categories.index("person"), categories.index("bicycle")] == [1, 2]
    assert random_detector().class_ids.tolist() == [1, 2]
    assert set(random_detector(believe="bicycle").detect(frames[:1])[0].class_name) == {"bicycle"}
    assert len(random_detector(believe="car").detect(frames[:1])[0]) == 0  # not a requested class
    with pytest.raises(UserError, match="unicycle"):
        FasterRcnnDetector(LIGHT, None, classes=("person", "unicycle"))
    with pytest.raises(UserError, match="fasterrcnn_resnet50_fpn_v2"):
        FasterRcnnDetector("fasterrcnn_resnet18", None)


def test_default_weights_offline_fail_fast_and_say_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    # in case someone called set_dir
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)

    def no_download(
        url: str, *args, **kwargs
    ) -> None:  # a connected machine must not fetch 170 MB here
        raise urllib.error.URLError("downloads are disabled in this test")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    weights = ARCHITECTURES["fasterrcnn_resnet50_fpn_v2"][1].DEFAULT
    expected = tmp_path / "hub" / "checkpoints" / Path(weights.url).name
    assert cache_file(weights) == expected
    start = time.perf_counter()
    with pytest.raises(UserError) as error:
        FasterRcnnDetector("fasterrcnn_resnet50_fpn_v2", "DEFAULT", device="cpu")
    assert time.perf_counter() - start < faster_rcnn.REACHABILITY_TIMEOUT_S + 5
    message = str(error.value)
    assert str(expected) in message and weights.url in message and 'weights = "' in message
    assert not expected.exists()


def test_default_weights_failed_download_is_a_user_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a connected machine whose download breaks off: the server answers, torch.hub fails."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(faster_rcnn.urllib.request, "urlopen", lambda *a, **k: open(__file__, "rb"))
    monkeypatch.setattr(
        torch.hub,
        "download_url_to_file",
        lambda *a, **k: (_ for _ in ()).throw(urllib.error.URLError("connection reset")),
    )
    with pytest.raises(
        UserError, match="the download failed.*connection reset.*weights = "
    ) as error:
        FasterRcnnDetector(LIGHT, "DEFAULT", device="cpu")
    assert str(cache_file(ARCHITECTURES[LIGHT][1].DEFAULT)) in str(error.value)


def test_default_weights_come_from_the_torch_cache_without_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frames: list[np.ndarray]
) -> None:
    """A file at the cache path is what "DEFAULT" loads, through torchvision's weights API (here a
    random state dict stands in for the COCO file, which this machine cannot download)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)
    monkeypatch.setattr(
        faster_rcnn.urllib.request, "urlopen", lambda *a, **k: pytest.fail("network probed")
    )
    original = random_detector()
    cached = cache_file(ARCHITECTURES[LIGHT][1].DEFAULT)
    cached.parent.mkdir(parents=True)
    torch.save(original.model.state_dict(), cached)
    detector = FasterRcnnDetector(LIGHT, "DEFAULT", score_min=0.3, device="cpu")
    assert (
        detector.identity
        == f"torchvision:{LIGHT}:FasterRCNN_MobileNet_V3_Large_320_FPN_Weights.COCO_V1"
    )
    (a,), (b,) = original.detect(frames[:1]), detector.detect(frames[:1])
    # torchvision's trained layout (FrozenBatchNorm) computes the same boxes
    assert len(a) == len(b) > 0
    np.testing.assert_allclose(a.xyxy, b.xyxy, atol=1e-2)

    cached.write_bytes(b"truncated")
    with pytest.raises(UserError, match="could not be loaded; delete it") as error:
        FasterRcnnDetector(LIGHT, "DEFAULT", device="cpu")
    assert str(cached) in str(error.value)


def test_local_checkpoint_round_trip(tmp_path: Path, frames: list[np.ndarray]) -> None:
    original = random_detector()
    path = tmp_path / "mine.pth"
    torch.save(original.model.state_dict(), path)
    loaded = FasterRcnnDetector(LIGHT, path, score_min=0.3, device="cpu")
    assert loaded.identity.startswith(f"torchvision:{LIGHT}:file=mine.pth@sha256:")
    assert loaded.identity.endswith(sha256_of(path))
    (a,), (b,) = original.detect(frames[:1]), loaded.detect(frames[:1])
    assert len(a) > 0
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.score, b.score)
    np.testing.assert_array_equal(a.class_name, b.class_name)

    # A training checkpoint as torchvision's reference train.py writes it (args included) loads too.
    training = tmp_path / "checkpoint.pth"
    torch.save(
        {"model": original.model.state_dict(), "epoch": 3, "args": argparse.Namespace(lr=0.02)},
        training,
    )
    assert (
        "file=checkpoint.pth@sha256:" in FasterRcnnDetector(LIGHT, training, device="cpu").identity
    )

    with pytest.raises(
        UserError, match="does not match architecture 'fasterrcnn_resnet50_fpn'"
    ) as error:
        FasterRcnnDetector("fasterrcnn_resnet50_fpn", path, device="cpu")
    # lists the valid architectures
    assert str(path) in str(error.value) and LIGHT in str(error.value)


def test_bad_checkpoint_files(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="not found.*nope.pth"):
        FasterRcnnDetector(LIGHT, tmp_path / "nope.pth")
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="garbage.pth"):
        FasterRcnnDetector(LIGHT, garbage)


def test_devices() -> None:
    assert choose_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        assert choose_device("auto") == torch.device("cpu")
        with pytest.raises(UserError, match="no usable CUDA"):
            choose_device("cuda")
        with pytest.raises(UserError, match="no usable CUDA"):
            choose_device("cuda:1")
    for bad in ("gpu0", "cuda:", "CPU", ""):
        with pytest.raises(UserError, match="not a device"):
            choose_device(bad)
    with pytest.raises(UserError, match="gpu0"):
        FasterRcnnDetector(LIGHT, None, device="gpu0")
    with pytest.warns(UserWarning, match="half"):  # float16 is CUDA only: ignored on CPU
        detector = FasterRcnnDetector(LIGHT, None, device="cpu", half=True)
    assert (
        not detector.half
        and detector.device == torch.device("cpu")
        and "fp16" not in detector.identity
    )


@pytest.mark.parametrize("architecture", list(ARCHITECTURES))
def test_real_coco_weights_find_the_rider(architecture: str, frames: list[np.ndarray]) -> None:
    weights = ARCHITECTURES[architecture][1].DEFAULT
    if not cache_file(weights).is_file():
        pytest.skip(
            f"COCO weights not in the torch cache: {cache_file(weights)} (from {weights.url})"
        )
    detector = FasterRcnnDetector(architecture, "DEFAULT", score_min=0.5, device="cpu")
    assert detector.identity == f"torchvision:{architecture}:{weights}"
    (found,) = detector.detect(frames[:1])
    persons = found.xyxy[found.class_name == "person"]
    x1, y1, x2, y2 = RIDER_BOX
    centers = (persons[:, :2] + persons[:, 2:]) / 2
    assert (
        (centers[:, 0] > x1) & (centers[:, 0] < x2) & (centers[:, 1] > y1) & (centers[:, 1] < y2)
    ).any(), found
