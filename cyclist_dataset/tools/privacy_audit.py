"""``cyclist-dataset audit-privacy``: the privacy audit over every image file a workspace holds
(temporary files included) or over a video's frames; the share of crops with a detectable face
per camera, and a contact sheet of the worst offenders."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from cyclist_dataset.core.config import AuditConfig
from cyclist_dataset.io import video
from cyclist_dataset.io.atomic import atomic_path, is_temporary, write_bytes
from cyclist_dataset.io.workspace import LOCK_NAME, Workspace
from cyclist_dataset.stages.anonymize.audit import Auditor

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def read_image(path: Path) -> np.ndarray | None:
    """Decode an image file by its content (any name, temporary files too); None if it is no
    image."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return image if image is not None and image.size else None


def image_files(root: Path, every_file: bool = False) -> list[Path]:
    """Crop images under ``root`` (and temporary files, which might hold crop bytes), sorted.

    ``every_file``: every file under ``root`` whatever its name (Parquet files and the lock aside).
    """
    found = []
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        name = path.name.lower()
        if every_file:
            if not name.endswith(".parquet") and name != LOCK_NAME:
                found.append(path)
        elif name.endswith(IMAGE_SUFFIXES) or is_temporary(path):
            found.append(path)
    return found


def audit_files(
    paths: Sequence[Path],
    config: AuditConfig = AuditConfig(),
    workers: int | None = None,
    progress: bool = True,
    root: Path | None = None,
) -> pd.DataFrame:
    """One row per file: its face scores and verdict. Files that decode to no image are marked
    ``readable = False`` (a truncated temporary file, a non-image file): they hold no picture."""
    auditor = Auditor(config)

    def one(path: Path) -> dict:
        image = read_image(path)
        row = {
            "path": str(path.relative_to(root) if root else path),
            "readable": image is not None,
            "height": 0,
            "width": 0,
            "audit_face_score": 0.0,
            "audit_passed": True,
            "faces": "[]",
        }
        for name in config.detectors:
            row[f"{name}_score"] = 0.0
        if image is not None:
            result = auditor.check(image)
            row.update(
                height=image.shape[0],
                width=image.shape[1],
                audit_face_score=result.score,
                audit_passed=result.passed,
                faces=json.dumps(np.round(result.faces, 1).tolist()),
            )
            for name, score in result.scores.items():
                row[f"{name}_score"] = score
        return row

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        rows = list(
            tqdm(
                pool.map(one, paths),
                total=len(paths),
                desc="audit",
                unit="image",
                leave=False,
                disable=not progress,
            )
        )
    return pd.DataFrame(
        rows,
        columns=[
            "path",
            "readable",
            "height",
            "width",
            "audit_face_score",
            "audit_passed",
            *[f"{n}_score" for n in config.detectors],
            "faces",
        ],
    )


def contact_sheet(
    images: Iterable[tuple[np.ndarray, str, np.ndarray]], columns: int = 8, tile_height: int = 160
) -> np.ndarray:
    """A grid of (image, caption, face boxes) tiles, each scaled to ``tile_height``, boxes drawn in
    red."""
    tiles = []
    for image, caption, faces in images:
        scale = tile_height / image.shape[0]
        tile = cv2.resize(
            image,
            (max(1, round(image.shape[1] * scale)), tile_height),
            interpolation=cv2.INTER_AREA,
        )
        for x1, y1, x2, y2, *_ in faces:
            cv2.rectangle(
                tile,
                (int(x1 * scale), int(y1 * scale)),
                (int(x2 * scale), int(y2 * scale)),
                (0, 0, 255),
                1,
            )
        tile = cv2.copyMakeBorder(tile, 0, 18, 0, 0, cv2.BORDER_CONSTANT, value=(255, 255, 255))
        cv2.putText(
            tile,
            caption,
            (2, tile_height + 13),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.4,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
        tiles.append(tile)
    if not tiles:
        return np.full((tile_height + 18, tile_height, 3), 255, np.uint8)
    width = max(t.shape[1] for t in tiles)
    tiles = [
        cv2.copyMakeBorder(
            t, 0, 0, 0, width - t.shape[1], cv2.BORDER_CONSTANT, value=(255, 255, 255)
        )
        for t in tiles
    ]
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


@dataclass
class WorkspaceAudit:
    crops: pd.DataFrame  # one row per file: path, location, camera, scores, verdict
    per_camera: pd.DataFrame  # location, camera, images, with_face, share_with_face, max score
    report_path: Path
    contact_sheet_path: Path | None

    @property
    def passed(self) -> bool:
        return bool(self.crops["audit_passed"].all())


def _location_camera(relative: str) -> tuple[str, str]:
    parts = Path(relative).parts  # crops/<location>/<camera>/<tracklet>/<file>
    if len(parts) >= 4 and parts[0] == "crops":
        return parts[1], parts[2]
    return "?", "?"


def audit_workspace(
    root: Path,
    config: AuditConfig = AuditConfig(),
    output: Path | None = None,
    worst: int = 24,
    every_file: bool = False,
    workers: int | None = None,
    progress: bool = True,
) -> WorkspaceAudit:
    """Audit every crop image under ``root/crops`` (temporary files too; ``every_file``: every file
    under ``root``); write ``privacy_audit.parquet`` and ``worst_offenders.png`` into ``output``
    (default ``root/audit``)."""
    workspace = Workspace(root)
    scan_root = root if every_file else root / "crops"
    paths = image_files(scan_root, every_file) if scan_root.is_dir() else []
    crops = audit_files(paths, config, workers, progress, root=root)
    located = [_location_camera(p) for p in crops["path"]]
    crops.insert(1, "location", [loc for loc, _ in located])
    crops.insert(2, "camera", [cam for _, cam in located])
    readable = crops[crops["readable"]]
    per_camera = (
        readable.groupby(["location", "camera"])
        .agg(
            images=("path", "size"),
            with_face=("audit_passed", lambda s: int((~s).sum())),
            max_audit_face_score=("audit_face_score", "max"),
        )
        .reset_index()
    )
    per_camera["share_with_face"] = per_camera["with_face"] / per_camera["images"].clip(lower=1)
    unreadable = int((~crops["readable"]).sum())
    per_camera.attrs["unreadable_files"] = unreadable

    output = Path(output) if output is not None else workspace.root / "audit"
    output.mkdir(parents=True, exist_ok=True)
    report_path = output / "privacy_audit.parquet"
    with atomic_path(report_path) as tmp:
        crops.to_parquet(tmp, index=False)
    sheet_path = None
    if len(readable):
        offenders = readable.sort_values(
            ["audit_face_score", "path"], ascending=[False, True]
        ).head(worst)
        tiles = []
        for row in offenders.itertuples():
            image = read_image(root / row.path)
            if image is None:
                continue
            faces = np.array(json.loads(row.faces), dtype=float).reshape(-1, 5)
            tiles.append((image, f"{row.audit_face_score:.2f} {Path(row.path).name[-22:]}", faces))
        sheet_path = output / "worst_offenders.png"
        ok, png = cv2.imencode(".png", contact_sheet(tiles))
        write_bytes(sheet_path, png.tobytes())
    return WorkspaceAudit(crops, per_camera, report_path, sheet_path)


def audit_video(
    path: Path, config: AuditConfig = AuditConfig(), sample_fps: float = 1.0, progress: bool = True
) -> pd.DataFrame:
    """Audit whole frames of a video, ``sample_fps`` of them per second: one row per sampled
    frame."""
    auditor = Auditor(config)
    info = video.probe(Path(path))
    rows = []
    frames = video.frames(Path(path), info.fps, sample_fps=sample_fps)
    total = round(info.frame_count * min(1.0, sample_fps / info.fps))
    for frame in tqdm(
        frames, total=total, desc="audit", unit="frame", leave=False, disable=not progress
    ):
        result = auditor.check(frame.image)
        rows.append(
            {
                "frame_index": frame.index,
                "timestamp_s": frame.timestamp_s,
                "audit_face_score": result.score,
                "audit_passed": result.passed,
                **{f"{k}_score": v for k, v in result.scores.items()},
            }
        )
    return pd.DataFrame(rows)
