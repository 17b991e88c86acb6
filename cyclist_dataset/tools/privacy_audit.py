"""``cyclist-dataset audit-privacy``: the privacy audit over every image file a workspace holds
(temporary files included) or over a video's frames; the share of crops with a detectable face
per camera, and a contact sheet of the worst offenders."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from cyclist_dataset.core.config import AuditConfig
from cyclist_dataset.io import progress as progress_display
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
            "finding": None,
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
                finding=None if result.worst is None else result.worst.describe(),
                faces=json.dumps(np.round(result.faces, 1).tolist()),
            )
            for name, score in result.scores.items():
                row[f"{name}_score"] = score
        return row

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        rows = list(
            progress_display.iterate(
                pool.map(one, paths), "audit", total=len(paths), unit="image", enabled=progress
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
            "finding",
            "faces",
        ],
    )


CAPTION_LINE_PX = 13
CAPTION_FONT_SCALE = 0.36


def contact_sheet(
    images: Iterable[tuple[np.ndarray, list[str], np.ndarray]],
    columns: int = 6,
    tile_height: int = 160,
    tile_width: int = 200,
) -> np.ndarray:
    """A grid of (image, caption lines, face boxes) tiles: each image scaled to ``tile_height``
    (and at most ``tile_width``), face boxes in red, every caption line written in full below it
    (the tile is as wide as its longest line)."""
    tiles = []
    for image, lines, faces in images:
        scale = min(tile_height / image.shape[0], tile_width / image.shape[1])
        tile = cv2.resize(
            image,
            (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale))),
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
        text_width = max(
            (cv2.getTextSize(line, cv2.FONT_HERSHEY_SIMPLEX, CAPTION_FONT_SCALE, 1)[0][0] + 6)
            for line in lines
        )
        width = max(tile_width, text_width)
        tile = cv2.copyMakeBorder(
            tile,
            0,
            tile_height - tile.shape[0] + CAPTION_LINE_PX * len(lines) + 4,
            0,
            width - tile.shape[1],
            cv2.BORDER_CONSTANT,
            value=(255, 255, 255),
        )
        for i, line in enumerate(lines):
            cv2.putText(
                tile,
                line,
                (3, tile_height + CAPTION_LINE_PX * (i + 1)),
                cv2.FONT_HERSHEY_SIMPLEX,
                CAPTION_FONT_SCALE,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
        tiles.append(tile)
    if not tiles:
        return np.full((tile_height + 18, tile_width, 3), 255, np.uint8)
    width, height = max(t.shape[1] for t in tiles), max(t.shape[0] for t in tiles)
    tiles = [
        cv2.copyMakeBorder(
            t,
            0,
            height - t.shape[0],
            0,
            width - t.shape[1],
            cv2.BORDER_CONSTANT,
            value=(255, 255, 255),
        )
        for t in tiles
    ]
    tiles += [np.full_like(tiles[0], 255)] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


_CROP_NAME = re.compile(r"^(?P<tracklet>.+)_(?P<camera>[^_]+)_f(?P<frame>\d+)\.[a-z]+$")


def caption(path: str, finding: str | None, score: float) -> list[str]:
    """A contact sheet tile's lines: tracklet; camera and frame; detector and view; raw score
    against threshold (and relative to it)."""
    name = Path(path).name
    match = _CROP_NAME.match(name)
    lines = (
        [match["tracklet"], f"{match['camera']} frame {int(match['frame'])}"] if match else [name]
    )
    if finding is None:
        return [*lines, "no face above the floor"]
    detector, ratio, *view = finding.split(" ")
    return [*lines, f"{detector} {' '.join(view)}", f"score {ratio} ({score:.2f} of threshold)"]


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


def _per_camera(root: Path, readable: pd.DataFrame) -> pd.DataFrame:
    """Per location and camera: images on disk, how many of them the split manifest releases
    (the rest: guard band, older runs), how many show a face (released ones apart), the highest
    score, and the crops the crop stage refused (never written, from its results)."""
    released = set()
    split = Workspace(root).stage_folder("split")
    if split.is_dir() and any(split.glob("*.parquet")):
        released = set(pd.read_parquet(split, columns=["crop_path"])["crop_path"].dropna())
    refused = pd.DataFrame(columns=["location", "camera"])
    stage = Workspace(root).stage_folder("anonymize")
    if stage.is_dir() and any(stage.glob("*.parquet")):
        rows = pd.read_parquet(stage, columns=["location", "camera", "crop_path"])
        refused = rows[rows["crop_path"].isna()]
    frame = readable.assign(released=readable["path"].isin(released))
    # no image at all (a workspace without crops): the keys must stay text for the merge below
    frame = frame.astype({"location": object, "camera": object})
    per_camera = (
        frame.groupby(["location", "camera"])
        .agg(
            images=("path", "size"),
            released=("released", "sum"),
            with_face=("audit_passed", lambda s: int((~s).sum())),
            released_with_face=(
                "audit_passed",
                lambda s: int((~s & frame.loc[s.index, "released"]).sum()),
            ),
            max_score=("audit_face_score", "max"),
        )
        .reset_index()
    )
    per_camera["share_with_face"] = per_camera["with_face"] / per_camera["images"].clip(lower=1)
    counts = refused.groupby(["location", "camera"]).size().rename("refused_not_written")
    per_camera = per_camera.merge(
        counts.reset_index(), on=["location", "camera"], how="outer"
    ).fillna({"images": 0, "released": 0, "with_face": 0, "released_with_face": 0})
    per_camera["refused_not_written"] = per_camera["refused_not_written"].fillna(0).astype(int)
    for column in ("images", "released", "with_face", "released_with_face"):
        per_camera[column] = per_camera[column].astype(int)
    return per_camera.sort_values(["location", "camera"]).reset_index(drop=True)


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
    # astype: an empty object column would select columns, not rows
    readable = crops[crops["readable"].astype(bool)]
    per_camera = _per_camera(root, readable)
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
            tiles.append((image, caption(row.path, row.finding, row.audit_face_score), faces))
        sheet_path = output / "worst_offenders.png"
        ok, png = cv2.imencode(".png", contact_sheet(tiles))
        write_bytes(sheet_path, png.tobytes())
    return WorkspaceAudit(crops, per_camera, report_path, sheet_path)


def audit_video(
    path: Path, config: AuditConfig = AuditConfig(), sample_fps: float = 1.0, progress: bool = True
) -> pd.DataFrame:
    """Audit whole frames of a video, ``sample_fps`` of them per second: one row per sampled
    frame. A frame is no person crop: faces are searched for from ``face_min_px`` everywhere in
    it (``crop_min_face_fraction = 0``), within YuNet's pixel budget: a whole 1080p frame is seen
    at about 0.44x, so faces under about 45 px are better checked on person crops (the crop
    stage) than here."""
    auditor = Auditor(config.model_copy(update={"crop_min_face_fraction": 0.0}))
    info = video.probe(Path(path))
    rows = []
    frames = video.frames(Path(path), info.fps, sample_fps=sample_fps)
    total = round(info.frame_count * min(1.0, sample_fps / info.fps))
    for frame in progress_display.iterate(
        frames, "audit", total=total, unit="frame", enabled=progress
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
