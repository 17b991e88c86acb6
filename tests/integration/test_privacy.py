"""Privacy on real footage: no image on disk with a face, a verdict that holds at every scale, and
releases gated on the audit.

The demo (Radeberg street camera) and multicam (four close-up indoor cameras) workspaces are made
with their pipelines' defaults; the intel clip's 76-87 s, where people turn their faces to the
camera, gives crops with faces.
"""

from __future__ import annotations

import json
import shutil
import warnings
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest
from support import INTEL, MULTICAM, cli_app
from typer.testing import CliRunner

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import AnonymizeConfig, AuditConfig, YoloxConfig, load_pipeline
from cyclist_dataset.dataset.reader import UnauditedReleaseWarning
from cyclist_dataset.dataset.release import create_release, load_split
from cyclist_dataset.errors import UserError
from cyclist_dataset.io import assets, video
from cyclist_dataset.io.workspace import Workspace
from cyclist_dataset.pipeline.run import run_pipeline
from cyclist_dataset.stages.anonymize import Anonymizer, write_crops
from cyclist_dataset.stages.anonymize.audit import DETECTOR_VIEWS, Auditor
from cyclist_dataset.stages.anonymize.crops import decode
from cyclist_dataset.stages.anonymize.faces import make_face_detector, model_file
from cyclist_dataset.tools.privacy_audit import audit_workspace

RESCALES = [
    (factor, interpolation)
    for factor in (0.5, 0.75, 1.5, 2.0, 3.0)
    for interpolation in (cv2.INTER_LINEAR, cv2.INTER_CUBIC)
]


@pytest.fixture(scope="module")
def intel_crops(tmp_path_factory) -> tuple[Path, list[np.ndarray]]:
    """The crop stage (defaults: median blur, audit) over the persons of the intel clip's 76-87 s;
    and the same persons' unblurred crops."""
    from cyclist_dataset.stages import detect

    detector = detect.make_detector(YoloxConfig(classes=("person",)))
    rows, raw = [], []
    for frame in video.frames(assets.path(INTEL), 10.0, wanted=set(range(760, 872, 4))):
        found = detector.detect_prepared([detector.prepare(frame.image)])[0]
        for box, score in zip(found.xyxy, found.score, strict=True):
            x1, y1, x2, y2 = (max(0, int(round(v))) for v in box)
            if score < 0.4 or y2 - y1 < 40:
                continue
            raw.append(frame.image[y1:y2, x1:x2].copy())
            rows.append((frame.index, frame.timestamp_s, float(score), (x1, y1, x2, y2)))
    n = len(rows)
    given = {
        "tracklet_id": [f"intel_t{i:04d}" for i in range(n)],
        "location": ["lab"] * n,
        "camera": ["c1"] * n,
        "video_id": ["intel"] * n,
        "frame_index": [r[0] for r in rows],
        "timestamp_s": [r[1] for r in rows],
        "detection_id": list(range(n)),
        "score": [r[2] for r in rows],
        "model": ["yolox"] * n,
        **{k: [float(r[3][i]) for r in rows] for i, k in enumerate(("x1", "y1", "x2", "y2"))},
        "low_score": [False] * n,
        "interpolated": [False] * n,
    }
    table = schemas.table(
        schemas.TRACKLETS, {f.name: given.get(f.name, [None] * n) for f in schemas.TRACKLETS}
    )
    root = tmp_path_factory.mktemp("intel_crops")
    write_crops(
        assets.path(INTEL),
        10.0,
        datetime(2020, 1, 1, tzinfo=UTC),
        table,
        Workspace(root),
        AnonymizeConfig(),
        progress=False,
    )
    assert n >= 20
    return root, raw


def stored_crops(root: Path, every: int = 1) -> list[np.ndarray]:
    paths = sorted((root / "crops").rglob("*.jpg"))[::every]
    return [cv2.imread(str(p)) for p in paths]


def test_yunet_on_onnxruntime_finds_what_opencv_finds(intel_crops):
    """Our YuNet (onnxruntime, dynamic input) decodes as cv2.FaceDetectorYN on the same input."""
    _, raw = intel_crops
    ours = make_face_detector("yunet")
    opencv = cv2.FaceDetectorYN.create(str(model_file("yunet")), "", (640, 640), 0.01, 0.3, 5000)
    compared = 0
    for crop in raw[::3]:
        scale = 640 / max(crop.shape[:2])
        canvas = np.zeros((640, 640, 3), np.uint8)
        resized = cv2.resize(crop, None, fx=scale, fy=scale)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        _, faces = opencv.detect(canvas)
        (boxes,) = ours.run(canvas[None], 0.01)
        expected = 0.0 if faces is None else float(faces[:, -1].max())
        assert (float(boxes[:, 4].max()) if len(boxes) else 0.0) == pytest.approx(
            expected, abs=1e-4
        )
        compared += expected > 0.5
    assert compared >= 1, "some crops must show a face both find"


def test_default_workspaces_hold_no_image_in_which_the_audit_finds_a_face(
    demo_run, multicam_run, tmp_path
):
    for config, _ in (demo_run, multicam_run):
        report = audit_workspace(
            config.workspace,
            every_file=True,
            progress=False,
            output=tmp_path / config.location.name,
        )
        images = report.crops[report.crops["readable"]]
        assert len(images) >= 100
        assert report.passed, images.loc[~images["audit_passed"], "path"].tolist()[:5]


def test_close_up_footage_is_escalated_not_greyed_out(multicam_run):
    """The multicam cameras see faces close up: the audit escalates many crops (and refuses what
    it cannot fix); an escalation blurs the face again, not the person."""
    config, _ = multicam_run
    rows = pd.read_parquet(config.workspace / "stages" / "anonymize")
    written = rows[rows["crop_path"].notna()]
    assert (rows["refused"].notna() == rows["crop_path"].isna()).all()
    assert (written["audit_face_score"] < 0.7).all()  # below both detectors' rescaling margin
    escalated = written[written["audit_escalations"] > 0]
    assert len(escalated) >= 50, "close-up faces need escalating"
    plain = Anonymizer(AnonymizeConfig(audit=AuditConfig(enabled=False)))
    for row in escalated.iloc[::15].itertuples():
        path = assets.path(f"footage/multicam_lab/{row.camera}.mp4")
        (frame,) = video.frames(path, video.probe(path).fps, wanted={row.frame_index})
        x1, y1, x2, y2 = (int(v) for v in (row.x1, row.y1, row.x2, row.y2))
        blurred = decode(plain.encode(plain.anonymize(frame.image[y1:y2, x1:x2])[0]))
        stored = cv2.imread(str(config.workspace / row.crop_path))
        changed = np.abs(stored.astype(int) - blurred.astype(int)).max(axis=2) > 12
        # What the escalation changed: the head, never most of the person.
        assert changed.mean() < 0.35, (row.crop_path, changed.mean())
        assert changed[changed.shape[0] // 2 :].mean() < 0.05, row.crop_path


@pytest.mark.parametrize("source", ["intel", "demo", "multicam"])
def test_a_stored_crop_passes_at_every_scale_and_a_face_fails_at_every_scale(
    source, intel_crops, demo_run, multicam_run
):
    """Rescaled 0.5x-3x, bilinear or bicubic, a stored crop still passes the audit; an unblurred
    crop that fails by a margin still fails."""
    root = {
        "intel": intel_crops[0],
        "demo": demo_run[0].workspace,
        "multicam": multicam_run[0].workspace,
    }[source]
    crops = stored_crops(root, every=2 if source == "intel" else 12)
    assert len(crops) >= 8
    auditor = Auditor()
    for crop in crops:
        copies = [cv2.resize(crop, None, fx=f, fy=f, interpolation=i) for f, i in RESCALES]
        results = auditor.check_many([crop, *copies])
        assert results[0].clear
        flipped = [
            (f, r.worst.describe())
            for (f, _), r in zip(RESCALES, results[1:], strict=True)
            if not r.passed
        ]
        assert not flipped, flipped
    if source == "intel":
        margin = min(spec.margin for spec in DETECTOR_VIEWS.values())
        faces = [c for c in intel_crops[1] if auditor.check(c).score >= 1 / margin]
        assert len(faces) >= 3
        for crop in faces:
            copies = [cv2.resize(crop, None, fx=f, fy=f, interpolation=i) for f, i in RESCALES]
            assert all(not r.passed for r in auditor.check_many(copies))


def test_release_gate_on_real_footage(multicam_run, tmp_path):
    """One camera anonymized without the audit: its release is refused, naming the camera and the
    fix; with --allow-unaudited it is made and says so; after the fix (audit on, rerun: detection
    and tracking are kept) it is made as a normal release."""
    workspace = tmp_path / "workspace"
    shutil.copytree(multicam_run[0].workspace, workspace)
    text = MULTICAM.read_text(encoding="utf-8")
    only_cam3 = text.replace('workspace = "../workspace/multicam_lab"', "").replace(
        'roi_dir = "../roi_definitions"',
        f'roi_dir = "{MULTICAM.parent.parent / "roi_definitions"}"',
    )
    for camera in ("cam0", "cam1", "cam2"):  # keep cam3's video only
        only_cam3 = only_cam3.replace(
            f'[[videos]]\ncamera = "{camera}"\nasset = "footage/multicam_lab/{camera}.mp4"\n'
            f'id = "multicam_lab_{camera}"\nstart_time = 2024-05-06T10:20:00\n',
            "",
        )
    assert only_cam3.count("[[videos]]") == 1
    unaudited = tmp_path / "cam3_unaudited.toml"
    unaudited.write_text(
        only_cam3.replace("[anonymize]\n", "[anonymize]\naudit = { enabled = false }\n")
    )
    report = run_pipeline(load_pipeline(unaudited, workspace), log=lambda line: None)
    assert {s for s, _ in report.done} == {"anonymize", "split"}

    with pytest.raises(UserError) as refused:
        create_release(workspace, "v1")
    message = str(refused.value)
    assert "multicam_lab/cam3" in message and "not audited" in message
    assert "cam0" not in message and "--allow-unaudited" in message
    assert not (workspace / "releases" / "v1").exists()

    release = create_release(workspace, "research", allow_unaudited=True)
    meta = json.loads((release / "release.json").read_text())
    assert meta["privacy"]["audited"] is False and meta["privacy"]["allow_unaudited"] is True
    cam3 = next(c for c in meta["privacy"]["by_camera"] if c["camera"] == "cam3")
    assert cam3["audited"] == 0 and cam3["unaudited"] == {"not audited": cam3["crops"]}
    assert (release / "README.md").read_text().splitlines()[0].startswith("> **WARNING: UNAUDITED")
    with pytest.warns(UnauditedReleaseWarning):
        load_split(release, "test")
    result = CliRunner().invoke(
        cli_app(), ["pull", str(release), "--split", "test", "--to", str(tmp_path / "pulled")]
    )
    assert result.exit_code == 0, result.output
    assert (
        "WARNING" in result.output
        and (tmp_path / "pulled" / "test.UNAUDITED_RELEASE.txt").is_file()
    )

    # The fix: the audit on, the same pipeline run again; detection and tracking are kept.
    fixed = tmp_path / "cam3.toml"
    fixed.write_text(only_cam3)
    report = run_pipeline(load_pipeline(fixed, workspace), log=lambda line: None)
    assert {s for s, _ in report.done} == {"anonymize", "split"}
    assert {s for s, _ in report.skipped} >= {"ingest", "detect", "filter", "track"}
    release = create_release(workspace, "v1")
    meta = json.loads((release / "release.json").read_text())
    assert meta["privacy"]["audited"] is True and meta["privacy"]["unaudited_crops"] == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnauditedReleaseWarning)
        load_split(release, "test")


def test_a_verdict_does_not_depend_on_the_crops_audited_with_it(intel_crops):
    """Views are padded one by one and batched only with views of the same shape: one crop audited
    alone scores exactly as in a batch with others."""
    _, raw = intel_crops
    auditor = Auditor()
    together = auditor.check_many(raw[:8])
    for crop, result in zip(raw[:8], together, strict=True):
        alone = auditor.check(crop)
        assert alone.score == pytest.approx(result.score, abs=1e-6)
        assert alone.scores == pytest.approx(result.scores, abs=1e-6)
