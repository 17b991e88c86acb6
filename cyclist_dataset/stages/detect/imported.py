"""Detections another tool made, read from one file per video instead of running a model
(``backend = "import"``).

Formats:

- **MOTChallenge** ``det.txt``: ``frame,-1,x,y,w,h,score[,class]`` per line, 1-based frames,
  x/y the box's top-left corner in pixels. A class column is optional (MOTChallenge's own files
  have ``-1,-1,-1`` world coordinates there, which count as no class). A ``seqinfo.ini`` beside
  the file (MOTChallenge's sequence description) is checked against the video.
- **OpenTrafficCam** ``.otdet`` (OTVision's output): bz2-compressed JSON,
  ``{"metadata": {"otdet_version", "video": {"width", "height", "recorded_fps",
  "number_of_frames", ...}, "detection": {"model": {"name", "weights", "classes"},
  "normalized_bbox"}}, "data": {"<1-based frame>": {"detections": [{"class", "confidence",
  "x", "y", "w", "h"}]}}}``. The box's x/y is its centre in version 1.0 and its top-left corner
  from 1.1 on: OpenTrafficCam's own reader (OTAnalytics' ``ottrk`` format fixer) moves x/y by
  half the box only for versions up to 1.0. Versions whose convention that reader does not
  confirm (later than 1.3) are refused rather than guessed.

Classes become roles by the pipeline's ``class_map``; a ``cyclist`` box (rider and bicycle in
one box) is its own bicycle: the pairing is done, and the crop is that box.
"""

from __future__ import annotations

import bz2
import configparser
import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclist_dataset.core.config import ImportConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.hashing import sha256_of

# otdet versions and where their x/y point (see the module docstring)
OTDET_CENTRE = {(1, 0)}
OTDET_TOP_LEFT = {(1, 1), (1, 2), (1, 3)}
# A decoder may count a few frames more or fewer than the tool that made the file.
FRAME_COUNT_SLACK = 2
FPS_TOLERANCE = 0.01  # relative


@dataclass(frozen=True)
class VideoShape:
    """What the pipeline knows of the video (its ingest row), to check a file against."""

    width: int
    height: int
    fps: float
    frame_count: int


@dataclass(frozen=True)
class ImportedDetections:
    """One file's boxes by 0-based frame index, and what it says of its source."""

    frames: dict[int, Detections]  # only frames with at least one mapped box
    source: str  # the file's name and, where the file declares one, the model: the `model` column
    sha256: str


def import_file(config: ImportConfig, video_id: str, source_name: str) -> Path:
    """The detection file of a video, which must exist."""
    path = config.file_for(video_id, source_name)
    if not path.is_file():
        raise UserError(
            f"video {video_id}: no detection file {path} (detect.files = "
            f"{config.files!r}; export the other tool's detections for this video there)"
        )
    return path


def read_detections(path: Path, config: ImportConfig, video: VideoShape) -> ImportedDetections:
    """The file's boxes, mapped to roles and checked against the video."""
    if config.format == "mot":
        frames, declared = _read_mot(path, config, video), None
    else:
        frames, declared = _read_otdet(path, config, video)
    # MOTChallenge names every file det.txt: its sequence folder says which one it is.
    name = "/".join(path.parts[-3:]) if path.name == "det.txt" else path.name
    source = f"import:{config.format}:{name}" + (f" ({declared})" if declared else "")
    return ImportedDetections(frames, source, sha256_of(path))


def _mapped(
    config: ImportConfig, boxes: list[tuple[int, str | None, float, list[float]]]
) -> dict[int, Detections]:
    """(frame index, role or None, score, xyxy) rows -> per-frame Detections of the roles above
    ``score_min``, in file order."""
    by_frame: dict[int, list[tuple[str, float, list[float]]]] = {}
    for frame, role, score, xyxy in boxes:
        if role is None or score < config.score_min:
            continue
        by_frame.setdefault(frame, []).append((role, score, xyxy))
    return {
        frame: Detections(
            np.asarray([r[2] for r in rows], dtype=np.float32).reshape(-1, 4),
            np.asarray([r[1] for r in rows], dtype=np.float32),
            np.asarray([r[0] for r in rows], dtype=object),
        )
        for frame, rows in sorted(by_frame.items())
    }


def _check_frame(path: Path, where: str, frame: int, video: VideoShape) -> int:
    """A 1-based frame number as a 0-based index of the video."""
    if frame < 1 or frame > video.frame_count + FRAME_COUNT_SLACK:
        raise UserError(
            f"{path}{where}: frame {frame} is not a frame of the video (1-{video.frame_count}, "
            "1-based); is this the file of another video?"
        )
    return frame - 1


def _read_mot(path: Path, config: ImportConfig, video: VideoShape) -> dict[int, Detections]:
    _check_seqinfo(path, video)
    rows = []
    with path.open(encoding="utf-8", newline="") as handle:
        for number, line in enumerate(csv.reader(handle), start=1):
            if not line or not "".join(line).strip():
                continue
            where = f", line {number}"
            if len(line) < 7:
                raise UserError(
                    f"{path}{where}: {len(line)} columns; a MOT detection line is "
                    "frame,-1,x,y,w,h,score[,class]"
                )
            try:
                frame = int(float(line[0]))
                x, y, w, h, score = (float(v) for v in line[2:7])
            except ValueError:
                raise UserError(
                    f"{path}{where}: {','.join(line)!r}: frame, x, y, w, h and score must be "
                    "numbers"
                ) from None
            if not all(math.isfinite(v) for v in (x, y, w, h, score)) or w <= 0 or h <= 0:
                raise UserError(f"{path}{where}: a box needs finite numbers and w, h > 0")
            raw_class = line[7].strip() if len(line) > 7 else ""
            role = config.mot_class if raw_class in ("", "-1") else config.class_map.get(raw_class)
            index = _check_frame(path, where, frame, video)
            rows.append((index, role, score, [x, y, x + w, y + h]))
    _check_boxes(path, rows, video)
    return _mapped(config, rows)


def _check_seqinfo(path: Path, video: VideoShape) -> None:
    """MOTChallenge keeps a sequence's size, rate and length in seqinfo.ini beside (or above)
    det/det.txt; where there is one, it must describe this video."""
    for folder in (path.parent, path.parent.parent):
        ini = folder / "seqinfo.ini"
        if ini.is_file():
            break
    else:
        return
    parser = configparser.ConfigParser()
    try:
        parser.read(ini, encoding="utf-8")
        info = parser["Sequence"]
        declared = VideoShape(
            int(info["imWidth"]),
            int(info["imHeight"]),
            float(info["frameRate"]),
            int(info["seqLength"]),
        )
    except (configparser.Error, KeyError, ValueError) as exc:
        raise UserError(
            f"{ini}: not a MOTChallenge seqinfo.ini ([Sequence] with imWidth, imHeight, "
            f"frameRate, seqLength): {exc}"
        ) from None
    _check_shape(ini, declared, video)


def _check_shape(path: Path, declared: VideoShape, video: VideoShape) -> None:
    problems = []
    if (declared.width, declared.height) != (video.width, video.height):
        problems.append(
            f"frame size {declared.width}x{declared.height}, the video's is "
            f"{video.width}x{video.height}"
        )
    if abs(declared.fps - video.fps) > FPS_TOLERANCE * video.fps:
        problems.append(f"{declared.fps:g} fps, the video has {video.fps:g}")
    if abs(declared.frame_count - video.frame_count) > FRAME_COUNT_SLACK:
        problems.append(f"{declared.frame_count} frames, the video has {video.frame_count}")
    if problems:
        raise UserError(
            f"{path} does not describe this video: {'; '.join(problems)}. Is it the file of "
            "another video (detect.files), or was the video re-encoded since?"
        )


def _check_boxes(path: Path, rows: list, video: VideoShape) -> None:
    """Boxes far outside the frame mean the file is another video's, or normalized."""
    if not rows:
        return
    boxes = np.asarray([r[3] for r in rows], dtype=float)
    far = (boxes[:, 2] < 0) | (boxes[:, 3] < 0)
    far |= (boxes[:, 0] > video.width) | (boxes[:, 1] > video.height)
    if far.any():
        i = int(np.argmax(far))
        raise UserError(
            f"{path}: the box {np.round(boxes[i], 1).tolist()} of frame {rows[i][0] + 1} lies "
            f"outside the {video.width}x{video.height} video; is this the file of another "
            "video, or are its coordinates fractions of the frame?"
        )


def _otdet_version(path: Path, raw: object) -> tuple[int, int]:
    try:
        major, minor = (int(p) for p in str(raw).split(".")[:2])
    except ValueError:
        raise UserError(f"{path}: metadata.otdet_version {raw!r} is not a version") from None
    if (major, minor) not in OTDET_CENTRE | OTDET_TOP_LEFT:
        known = ", ".join(f"{a}.{b}" for a, b in sorted(OTDET_CENTRE | OTDET_TOP_LEFT))
        raise UserError(
            f"{path}: otdet_version {raw}: where its boxes' x/y point is not confirmed for this "
            f"version (known: {known}); convert it with OpenTrafficCam's tools, or open an "
            "issue with a sample file"
        )
    return major, minor


def _read_otdet(
    path: Path, config: ImportConfig, video: VideoShape
) -> tuple[dict[int, Detections], str | None]:
    try:
        with bz2.open(path, "rt", encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, EOFError) as exc:
        raise UserError(f"{path}: not a bz2-compressed .otdet file: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: the decompressed file is not JSON: {exc}") from None
    try:
        metadata, data = content["metadata"], content["data"]
        version = _otdet_version(path, metadata["otdet_version"])
        meta_video = metadata["video"]
        declared = VideoShape(
            int(meta_video["width"]),
            int(meta_video["height"]),
            float(meta_video["recorded_fps"]),
            int(meta_video["number_of_frames"]),
        )
        detection = metadata.get("detection", {})
        normalized = bool(detection.get("normalized_bbox", False))
        model = detection.get("model", {})
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            f"{path}: not an .otdet file (metadata.otdet_version, metadata.video.width, height, "
            f"recorded_fps, number_of_frames and data are needed): missing or wrong {exc}"
        ) from None
    _check_shape(path, declared, video)
    centre = version in OTDET_CENTRE
    sx, sy = (video.width, video.height) if normalized else (1, 1)
    rows = []
    for key, frame_data in data.items():
        where = f", data[{key!r}]"
        try:
            frame = int(key)
            detections = frame_data["detections"]
            boxes = [
                (
                    str(d["class"]),
                    float(d["confidence"]),
                    float(d["x"]),
                    float(d["y"]),
                    float(d["w"]),
                    float(d["h"]),
                )
                for d in detections
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{path}{where}: each frame needs detections with class, confidence, x, y, w, "
                f"h: {exc}"
            ) from None
        index = _check_frame(path, where, frame, video)
        for name, score, x, y, w, h in boxes:
            if centre:
                x, y = x - w / 2, y - h / 2
            x, y, w, h = x * sx, y * sy, w * sx, h * sy
            rows.append((index, config.class_map.get(name), score, [x, y, x + w, y + h]))
    rows.sort(key=lambda r: r[0])  # JSON object order is the writer's; frames in time order
    _check_boxes(path, rows, video)
    named = [model.get(key) for key in ("name", "weights")] if isinstance(model, dict) else []
    declared_model = " ".join(str(v) for v in named if v) or None
    return _mapped(config, rows), declared_model
