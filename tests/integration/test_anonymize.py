"""Anonymization on real footage with the real models: blur modes, face blur with its fallback,
crop writing, and whole-video anonymization.

Faces: the intel clip (768x432, 10 fps), 76-87 s, where people turn their faces (profiles,
glasses) close to the camera; CenterFace finds them in the unblurred person crops.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from support import INTEL, cli_app, write_segment
from typer.testing import CliRunner

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import AnonymizeConfig, AuditConfig, YoloxConfig
from cyclist_dataset.io import assets, video
from cyclist_dataset.io.atomic import TEMP_MARK
from cyclist_dataset.io.workspace import Workspace
from cyclist_dataset.stages.anonymize import (
    Anonymizer,
    blur,
    blur_window,
    crop_file_name,
    write_crops,
)
from cyclist_dataset.stages.anonymize.audit import Auditor
from cyclist_dataset.stages.anonymize.crops import _bounded_map, carry_faces
from cyclist_dataset.stages.anonymize.faces import make_face_detector
from cyclist_dataset.tools.privacy_audit import audit_video

SEGMENT = range(760, 872)  # frames 76.0-87.1 s of the intel clip: faces in profile
NO_ESCALATION = AuditConfig(escalate=False)


@pytest.fixture(scope="session")
def intel_people() -> list[dict]:
    """Person detections (YOLOX-nano, score >= 0.4) in every 4th frame of the segment, with their
    crops."""
    from cyclist_dataset.stages import detect

    detector = detect.make_detector(YoloxConfig(classes=("person",)))
    people = []
    for frame in video.frames(assets.path(INTEL), 10.0, wanted=set(SEGMENT[::4])):
        found = detector.detect_prepared([detector.prepare(frame.image)])[0]
        for box, score in zip(found.xyxy, found.score, strict=False):
            if score < 0.4:
                continue
            x1, y1, x2, y2 = (int(round(v)) for v in box)
            x1, y1 = max(0, x1), max(0, y1)
            people.append(
                {
                    "frame_index": frame.index,
                    "timestamp_s": frame.timestamp_s,
                    "box": (x1, y1, x2, y2),
                    "score": float(score),
                    "crop": frame.image[y1:y2, x1:x2].copy(),
                }
            )
    assert len(people) >= 20
    return people


def test_faces_found_before_blurring_and_none_after_default_blur(intel_people):
    auditor = Auditor(NO_ESCALATION)
    centerface = make_face_detector("centerface")
    raw = [auditor.check(p["crop"]) for p in intel_people]
    found = [
        p
        for p in intel_people
        if len(centerface.detect(p["crop"], NO_ESCALATION.centerface_threshold))
    ]
    assert len(found) >= 2, "CenterFace must find faces in the unblurred crops"
    assert sum(not r.passed for r in raw) >= 2
    # The default: median, 5 px at 128 px, then the audit's escalations where a face is still
    # found, or nearly (within the rescaling margin).
    anonymizer = Anonymizer(AnonymizeConfig())
    escalated = 0
    for person in intel_people:
        blurred, info = anonymizer.anonymize(person["crop"])
        assert info["window_px"] == blur_window(person["crop"].shape[0], AnonymizeConfig())
        sealed = anonymizer.seal(blurred)
        assert sealed.audit_passed and sealed.data is not None, (person["frame_index"], sealed)
        assert sealed.audit_score < 0.7
        escalated += sealed.escalations > 0
    # The median blur alone leaves a findable face in some crops where people face the camera.
    assert 0 < escalated < len(intel_people)


def test_face_mode_blurs_faces_and_falls_back_to_the_head(intel_people):
    config = AnonymizeConfig(method="face")  # the audit escalates what face blur left findable
    anonymizer = Anonymizer(config)
    outcomes, escalated = [], 0
    for person in intel_people:
        crop = person["crop"]
        blurred, info = anonymizer.anonymize(crop)
        sealed = anonymizer.seal(blurred)
        assert sealed.audit_passed, (person["frame_index"], info, sealed.audit_score)
        escalated += sealed.escalations > 0
        outcomes.append(info)
        head = int(np.ceil(config.head_fraction * crop.shape[0]))
        if info["fallback"]:
            # The head region is blurred even where the detector found nothing there ...
            sharp = cv2.Laplacian(cv2.cvtColor(crop[:head], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
            soft = cv2.Laplacian(cv2.cvtColor(blurred[:head], cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()
            assert soft < 0.5 * sharp  # the median keeps the silhouette's edges, not the detail
        if info["faces_found"] + info["faces_carried"] == 0:
            # ... and the rest of the person stays as sharp as it was (what re-ID needs).
            assert np.array_equal(blurred[head + 1 :], crop[head + 1 :])
    assert any(o["faces_found"] > 0 for o in outcomes)
    assert any(o["fallback"] and o["faces_found"] == 0 for o in outcomes), (
        "the fallback path must be exercised"
    )
    # In this segment people turn their faces to the camera: face blur alone leaves 14 of 27 crops
    # within the audit's rescaling margin (0.7 of a threshold); escalation takes those.
    assert escalated <= len(intel_people) * 2 // 3, (escalated, len(intel_people))


def test_face_mode_fallback_when_the_detector_finds_nothing(intel_people):
    """Force the detector's miss (a threshold nothing reaches): the head region is still blurred."""
    person = max(intel_people, key=lambda p: Auditor(NO_ESCALATION).check(p["crop"]).score)
    config = AnonymizeConfig(method="face", face_threshold=0.999, audit=NO_ESCALATION)
    anonymizer = Anonymizer(config)
    assert Auditor(NO_ESCALATION).check(person["crop"]).passed is False  # the raw crop shows a face
    blurred, info = anonymizer.anonymize(person["crop"])
    assert info["faces_found"] == 0 and info["fallback"]
    assert anonymizer.seal(blurred).audit_passed


def test_yunet_as_a_second_face_detector(intel_people):
    both = Anonymizer(
        AnonymizeConfig(method="face", face_detectors=("centerface", "yunet"), audit=NO_ESCALATION)
    )
    one = Anonymizer(AnonymizeConfig(method="face", audit=NO_ESCALATION))
    counts_both = [len(both.find_faces(p["crop"])) for p in intel_people[:12]]
    counts_one = [len(one.find_faces(p["crop"])) for p in intel_people[:12]]
    # the union of both detectors' boxes
    assert all(b >= o for b, o in zip(counts_both, counts_one, strict=False))
    assert sum(counts_both) > sum(counts_one)
    assert [d.split(":")[0] for d in both.params["face"]["detectors"]] == ["centerface", "yunet"]


def test_blur_strength_is_size_invariant(intel_people):
    """The same people at 128 and 384 px height, each blurred with its own window (5 and 15 px):
    equally sharp when compared at one size; the 128 px window on the large crop would leave it much
    sharper."""
    config = AnonymizeConfig()

    def at_height(image: np.ndarray, height: int) -> np.ndarray:
        return cv2.resize(
            image,
            (round(image.shape[1] * height / image.shape[0]), height),
            interpolation=cv2.INTER_AREA,
        )

    def sharpness(image: np.ndarray, like: np.ndarray) -> float:
        common = cv2.resize(image, (like.shape[1], like.shape[0]), interpolation=cv2.INTER_AREA)
        return cv2.Laplacian(cv2.cvtColor(common, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var()

    for method in ("median", "gaussian", "average"):
        scaled, fixed = [], []
        for person in intel_people[:3]:
            small, large = at_height(person["crop"], 128), at_height(person["crop"], 384)
            assert (blur_window(128, config), blur_window(384, config)) == (5, 15)
            reference = sharpness(blur(small, method, 5), small)
            scaled.append(sharpness(blur(large, method, 15), small) / reference)
            fixed.append(sharpness(blur(large, method, 5), small) / reference)
        assert 0.65 < np.mean(scaled) < 1.35, (method, scaled)
        assert np.mean(fixed) > 1.4 * np.mean(scaled), (method, fixed, scaled)


def test_carry_faces_within_a_tracklet():
    rows = pd.DataFrame(
        {"tracklet_id": ["a"] * 5 + ["b"], "timestamp_s": [0.0, 0.1, 0.2, 0.3, 1.5, 0.1]}
    )
    face = np.array([[0.4, 0.05, 0.6, 0.15, 0.9]], np.float32)
    found = {
        0: face,
        1: np.zeros((0, 5), np.float32),
        2: np.zeros((0, 5), np.float32),
        3: face * [1, 1, 1, 1, 1],
        4: np.zeros((0, 5), np.float32),
        5: np.zeros((0, 5), np.float32),
    }
    carried = carry_faces(rows, found, carry_s=0.5)
    assert set(carried) == {1, 2}  # row 4 is too far from any face, tracklet b has none
    assert len(carried[1]) == 2  # the nearest earlier and later faces


def test_bounded_map_keeps_order_and_bounds_work_in_flight():
    from concurrent.futures import ThreadPoolExecutor

    pending, peak, lock = [0], [0], threading.Lock()

    def job(i: int) -> int:
        with lock:
            pending[0] += 1
            peak[0] = max(peak[0], pending[0])
        time.sleep(0.001 * (i % 3))
        with lock:
            pending[0] -= 1
        return i

    with ThreadPoolExecutor(4) as pool:
        results = list(_bounded_map(pool, ((job, (i,)) for i in range(200)), in_flight=6))
    assert results == list(range(200)) and peak[0] <= 6


@pytest.mark.parametrize("method,fmt", [("median", "jpg"), ("face", "png")])
def test_write_crops_records_anonymization_and_audit(intel_people, tmp_path, method, fmt):
    people = intel_people[:16]
    n = len(people)
    given = {
        "tracklet_id": ["intel_t0001"] * n,
        "location": ["lab"] * n,
        "camera": ["c1"] * n,
        "video_id": ["intel"] * n,
        "frame_index": [p["frame_index"] for p in people],
        "timestamp_s": [p["timestamp_s"] for p in people],
        "detection_id": list(range(n)),
        "score": [p["score"] for p in people],
        **{k: [float(p["box"][i]) for p in people] for i, k in enumerate(("x1", "y1", "x2", "y2"))},
        "model": ["yolox"] * n,
        **{
            k: [None] * n
            for k in (
                "bicycle_detection_id",
                "bicycle_score",
                "bicycle_x1",
                "bicycle_y1",
                "bicycle_x2",
                "bicycle_y2",
            )
        },
    }
    # Columns the tracker adds (low_score, interpolated, Kalman boxes): false or null.
    tracklets = schemas.table(
        schemas.TRACKLETS,
        {
            f.name: given.get(f.name, [False if f.type == pa.bool_() else None] * n)
            for f in schemas.TRACKLETS
        },
    )
    # Several people per frame would share a tracklet id here; keep one per frame.
    frames = pd.Series([p["frame_index"] for p in people])
    tracklets = tracklets.filter(pa.array(~frames.duplicated().to_numpy()))
    config = AnonymizeConfig(method=method, format=fmt)
    workspace = Workspace(tmp_path)
    table = write_crops(
        assets.path(INTEL),
        10.0,
        datetime(2020, 1, 1, tzinfo=UTC),
        tracklets,
        workspace,
        config,
        workers=2,
        progress=False,
    )
    crops = table.to_pandas()
    assert len(crops) == tracklets.num_rows
    assert crops["audit_passed"].all()
    assert (crops["audit_face_score"] < 1).all()
    for row in crops.itertuples():
        path = tmp_path / row.crop_path
        assert path.name == crop_file_name("intel_t0001", "c1", row.frame_index, fmt)
        assert path.parent == workspace.crop_dir("lab", "c1", "intel_t0001")
        image = cv2.imread(str(path))
        # original resolution
        assert image.shape[:2] == (
            int(row.y2 - row.y1),
            int(row.x2 - row.x1),
        )
        params = json.loads(row.anonymization)
        assert params["method"] == method and params["format"] == fmt
        assert params["audit"]["detectors"][0].startswith("centerface:centerface.onnx@sha256:")
    if method == "face":
        assert crops["faces_found"].notna().all() and crops["face_fallback"].notna().all()
        assert crops["face_fallback"].any()
        assert params["face"]["detectors"][0].startswith("centerface:centerface.onnx@sha256:")
    else:
        assert crops["faces_found"].isna().all()
    assert not list(tmp_path.rglob(f"*{TEMP_MARK}*"))


@pytest.fixture(scope="session")
def intel_clip(tmp_path_factory) -> Path:
    return write_segment(tmp_path_factory.mktemp("intel") / "intel_76s.mp4", range(760, 860))


def test_anonymize_video_plays_keeps_frames_and_passes_the_audit(intel_clip, tmp_path):
    audit = AuditConfig()
    before = audit_video(intel_clip, audit, sample_fps=2, progress=False)
    assert (~before["audit_passed"]).any(), "the raw clip must show a detectable face"
    output = tmp_path / "out" / "blurred.mp4"
    result = CliRunner().invoke(
        cli_app(),
        [
            "anonymize-video",
            str(intel_clip),
            str(output),
            "--sample-fps",
            "2.5",
            "--audit-fps",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "privacy audit: 20 sampled frames, 0 with a detectable face" in result.output
    source, copy = video.probe(intel_clip), video.probe(output)
    assert copy.frame_count == source.frame_count == 100
    assert copy.fps == pytest.approx(source.fps)
    assert (copy.width, copy.height) == (source.width, source.height)
    assert sum(1 for _ in video.frames(output, copy.fps)) == 100  # every frame decodes
    after = audit_video(output, audit, sample_fps=2, progress=False)
    assert after["audit_passed"].all()
    # no temporary file left
    assert not [p for p in output.parent.iterdir() if p.name != "blurred.mp4"]


def test_anonymize_video_rejects_bad_input(tmp_path):
    result = CliRunner().invoke(
        cli_app(), ["anonymize-video", str(tmp_path / "missing.mp4"), str(tmp_path / "o.mp4")]
    )
    assert result.exit_code != 0 and "input video not found" in str(result.exception)
    result = CliRunner().invoke(
        cli_app(),
        ["anonymize-video", str(tmp_path), str(tmp_path / "o.mp4"), "--method", "pixelate"],
    )
    assert result.exit_code == 2
