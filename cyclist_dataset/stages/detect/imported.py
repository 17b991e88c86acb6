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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cyclist_dataset.core.config import ImportConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.errors import UserError

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
    left_out: dict[str, int]  # boxes per class that `class_map` does not name


# A box as read: 0-based frame index, source class (None: a MOT line without one), score, xyxy.
Row = tuple[int, str | None, float, list[float]]


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
        rows, declared = _read_mot(path, video), None
    else:
        rows, declared = _read_otdet(path, video)
    _check_boxes(path, rows, video)
    frames, left_out = _mapped(path, config, rows)
    # MOTChallenge names every file det.txt: its sequence folder says which one it is.
    name = "/".join(path.parts[-3:]) if path.name == "det.txt" else path.name
    source = f"import:{config.format}:{name}" + (f" ({declared})" if declared else "")
    return ImportedDetections(frames, source, left_out)


def _mapped(
    path: Path, config: ImportConfig, rows: list[Row]
) -> tuple[dict[int, Detections], dict[str, int]]:
    """Per frame the Detections of the mapped roles at or above ``score_min``, in file order, and
    how many boxes of each class the map does not name. A file whose boxes all have unnamed
    classes is an error (a `class_map` that does not fit the file would otherwise give an empty
    dataset without a word)."""
    by_frame: dict[int, list[tuple[str, float, list[float]]]] = {}
    left_out: dict[str, int] = {}
    for frame, name, score, xyxy in rows:
        role = config.mot_class if name is None else config.class_map.get(name)
        if role is None:
            left_out[str(name)] = left_out.get(str(name), 0) + 1
        elif score >= config.score_min:
            by_frame.setdefault(frame, []).append((role, score, xyxy))
    if rows and sum(left_out.values()) == len(rows):
        raise UserError(
            f"{path}: none of its classes {sorted(left_out)} is in detect.class_map "
            f"{sorted(config.class_map)}; map them to person, bicycle or cyclist"
        )
    frames = {
        frame: Detections(
            np.asarray([r[2] for r in found], dtype=np.float32).reshape(-1, 4),
            np.asarray([r[1] for r in found], dtype=np.float32),
            np.asarray([r[0] for r in found], dtype=object),
        )
        for frame, found in sorted(by_frame.items())
    }
    return frames, dict(sorted(left_out.items()))


def _frame_index(path: Path, where: str, value: object, video: VideoShape) -> int:
    """A 1-based frame number (from a MOT line or an .otdet key) as a 0-based index of the
    video."""
    try:
        number = float(str(value))
    except ValueError:
        number = math.nan
    if not number.is_integer():
        raise UserError(f"{path}{where}: frame {value!r} is not a frame number")
    if not 1 <= number <= video.frame_count:
        raise UserError(
            f"{path}{where}: frame {int(number)} is not a frame of the video "
            f"(1-{video.frame_count}, 1-based); is this the file of another video?"
        )
    return int(number) - 1


def _box(path: Path, where: str, values: Sequence[object]) -> tuple[float, ...]:
    """x, y, w, h and the score of a box: finite numbers, w and h > 0."""
    try:
        x, y, w, h, score = (float(v) for v in values)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise UserError(
            f"{path}{where}: x, y, w, h and the score must be numbers, got {list(values)}"
        ) from None
    if not all(math.isfinite(v) for v in (x, y, w, h, score)) or w <= 0 or h <= 0:
        raise UserError(
            f"{path}{where}: a box needs finite numbers and w, h > 0, got {list(values)}"
        )
    return x, y, w, h, score


def _read_mot(path: Path, video: VideoShape) -> list[Row]:
    _check_seqinfo(path, video)
    rows: list[Row] = []
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            lines = list(csv.reader(handle))
    except UnicodeDecodeError:
        raise UserError(
            f"{path}: not a text file; a MOT detection file has lines "
            "frame,-1,x,y,w,h,score[,class] (is detect.format right?)"
        ) from None
    for number, line in enumerate(lines, start=1):
        if not line or not "".join(line).strip():
            continue
        where = f", line {number}"
        if len(line) < 7:
            raise UserError(
                f"{path}{where}: {len(line)} columns; a MOT detection line is "
                "frame,-1,x,y,w,h,score[,class]"
            )
        index = _frame_index(path, where, line[0].strip(), video)
        x, y, w, h, score = _box(path, where, line[2:7])
        raw_class = line[7].strip() if len(line) > 7 else ""
        name = None if raw_class in ("", "-1") else raw_class
        rows.append((index, name, score, [x, y, x + w, y + h]))
    return rows


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
    except (configparser.Error, KeyError, ValueError, UnicodeDecodeError) as exc:
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


def _check_boxes(path: Path, rows: list[Row], video: VideoShape) -> None:
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


def _read_otdet(path: Path, video: VideoShape) -> tuple[list[Row], str | None]:
    try:
        with bz2.open(path, "rt", encoding="utf-8") as handle:
            content = json.load(handle)
    except (OSError, EOFError) as exc:
        raise UserError(f"{path}: not a bz2-compressed .otdet file: {exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: the decompressed file is not JSON: {exc}") from None
    needed = (
        "an object with metadata (otdet_version; video with width, height, recorded_fps, "
        "number_of_frames) and data (frames)"
    )
    try:
        metadata, data = content["metadata"], content["data"]
        meta_video = metadata["video"]
        detection = metadata.get("detection", {})
        if not all(isinstance(v, dict) for v in (data, meta_video, detection)):
            raise TypeError("metadata.video, metadata.detection and data must be objects")
        version = _otdet_version(path, metadata["otdet_version"])
        declared = VideoShape(
            int(meta_video["width"]),
            int(meta_video["height"]),
            float(meta_video["recorded_fps"]),
            int(meta_video["number_of_frames"]),
        )
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise UserError(f"{path}: not an .otdet file ({needed}): {exc}") from None
    _check_shape(path, declared, video)
    centre = version in OTDET_CENTRE
    normalized = bool(detection.get("normalized_bbox", False))
    sx, sy = (video.width, video.height) if normalized else (1, 1)
    rows: list[Row] = []
    for key, frame_data in data.items():
        where = f", data[{key!r}]"
        index = _frame_index(path, where, key, video)
        detections = frame_data.get("detections") if isinstance(frame_data, dict) else None
        if not isinstance(detections, list) or not all(isinstance(d, dict) for d in detections):
            raise UserError(f'{path}{where}: a frame is {{"detections": [{{...}}, ...]}}')
        for n, found in enumerate(detections):
            at = f"{where}.detections[{n}]"
            if "class" not in found:
                raise UserError(f"{path}{at}: a detection needs a class")
            x, y, w, h, score = _box(
                path, at, [found.get(k) for k in ("x", "y", "w", "h", "confidence")]
            )
            if centre:
                x, y = x - w / 2, y - h / 2
            x, y, w, h = x * sx, y * sy, w * sx, h * sy
            rows.append((index, str(found["class"]), score, [x, y, x + w, y + h]))
    rows.sort(key=lambda r: r[0])  # JSON object order is the writer's; frames in time order
    model = detection.get("model")
    named = [model.get(key) for key in ("name", "weights")] if isinstance(model, dict) else []
    return rows, " ".join(str(v) for v in named if v) or None
