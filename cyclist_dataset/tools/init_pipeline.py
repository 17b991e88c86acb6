"""`cyclist-dataset init`: a pipeline file and an ROI stub per camera from a folder of footage.

``scan`` finds and probes every video under a folder and sorts it into cameras with start times
(or the reason it has none); ``render`` writes the commented pipeline file; ``write`` puts the
pipeline file and the ROI stubs on disk, all or nothing. Nothing here decodes more than a video's
first frame.
"""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from cyclist_dataset.core.config import (
    VIDEO_ID_PATTERN,
    LocationConfig,
    load_pipeline,
    start_time_in_name,
)
from cyclist_dataset.errors import ConfigError, UserError
from cyclist_dataset.io.atomic import write_text
from cyclist_dataset.io.video import VideoError, VideoInfo, probe

VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".m4v", ".mpg", ".mpeg", ".ts", ".mts", ".webm"}
# A camera named in a file name (cam0.mp4, north_camera2_...): the default grouping when files
# lie side by side in one folder.
CAMERA_IN_NAME = r"(?i)(?:^|[^a-z0-9])(cam(?:era)?[-_]?\d+)(?:[^0-9]|$)"
DEFAULT_START_TIME_PATTERN = LocationConfig.model_fields["start_time_pattern"].default


@dataclass
class FoundVideo:
    path: Path
    camera: str
    info: VideoInfo
    start_time: datetime | None  # local time of the first frame
    why_no_time: str | None = None  # set when start_time is None
    video_id: str = ""


@dataclass
class Scan:
    folder: Path
    videos: list[FoundVideo] = field(default_factory=list)
    unreadable: list[tuple[Path, str]] = field(default_factory=list)
    grouping: str = ""  # how the cameras were found, said to the user

    @property
    def cameras(self) -> list[str]:
        return sorted({v.camera for v in self.videos})

    @property
    def timed(self) -> list[FoundVideo]:
        return [v for v in self.videos if v.start_time is not None]

    @property
    def untimed(self) -> list[FoundVideo]:
        return [v for v in self.videos if v.start_time is None]


def _camera_id(text: str) -> str:
    """A camera id the pipeline file accepts (letters, digits, '_', '-')."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")
    return cleaned or "cam1"


def group_cameras(
    folder: Path, paths: list[Path], camera_pattern: str | None
) -> tuple[dict[Path, str], str]:
    """Camera id per video, and how it was decided: ``camera_pattern``'s first group on the file
    name; else the sub-folder the video lies in (when the videos lie in more than one); else a
    camera named in the file names (``cam0``, ``camera_2``); else one camera, ``cam1``."""
    if camera_pattern is not None:
        try:
            pattern = re.compile(camera_pattern)
        except re.error as exc:
            raise UserError(
                f"--camera-pattern {camera_pattern!r}: not a regular expression: {exc}"
            ) from None
        if pattern.groups < 1:
            raise UserError(f"--camera-pattern {camera_pattern!r}: needs a group, the camera id")
        cameras = {}
        for path in paths:
            match = pattern.search(path.name)
            if match is None or not match.group(1):
                raise UserError(
                    f"{path}: --camera-pattern {camera_pattern!r} finds no camera in this file "
                    "name; change the pattern or move the file"
                )
            cameras[path] = _camera_id(match.group(1))
        return cameras, f"camera = --camera-pattern {camera_pattern!r} on the file name"
    folders = {path.parent for path in paths}
    if len(folders) > 1:
        return (
            {p: _camera_id(str(p.parent.relative_to(folder))) for p in paths},
            "camera = the sub-folder a video lies in",
        )
    named = {p: re.search(CAMERA_IN_NAME, p.stem) for p in paths}
    if all(named.values()):
        return (
            {p: _camera_id(m.group(1).lower()) for p, m in named.items() if m},
            "camera = the camera named in the file name (cam0, camera_2, ...)",
        )
    return (
        {p: "cam1" for p in paths},
        "one camera, cam1 (all videos in one folder, no camera in their names; "
        "give --camera-pattern to split them)",
    )


def _placeholder_times(videos: list[FoundVideo]) -> None:
    """Start times no camera recorded: a camera clock never set (1 January, midnight) or two
    videos of one camera that would have started at the same moment."""
    by_start = Counter((v.camera, v.start_time) for v in videos if v.start_time is not None)
    for video in videos:
        if video.start_time is None:
            continue
        same = by_start[(video.camera, video.start_time)]
        if same > 1:
            moment = video.start_time.strftime("%Y-%m-%d %H:%M:%S")
            video.why_no_time = (
                f"{same} videos of {video.camera} would start at {moment}: a placeholder, not a "
                "recording time"
            )
        elif (video.start_time.month, video.start_time.day) == (1, 1) and (
            video.start_time.time() == datetime.min.time()
        ):
            video.why_no_time = (
                "1 January, 00:00:00: a camera clock never set, not a recording time"
            )
        if video.why_no_time is not None:
            video.start_time = None


def _video_ids(videos: list[FoundVideo]) -> None:
    stems = Counter(v.path.stem for v in videos)
    for video in videos:
        stem = (
            video.path.stem if stems[video.path.stem] == 1 else f"{video.camera}_{video.path.stem}"
        )
        if not re.match(VIDEO_ID_PATTERN, stem):
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", stem).strip("_.-") or "video"
        video.video_id = stem


def scan(
    folder: Path,
    camera_pattern: str | None = None,
    start_time_pattern: str = DEFAULT_START_TIME_PATTERN,
    start_time: datetime | None = None,
) -> Scan:
    """Every video under ``folder`` (recursively, by suffix), probed, with its camera and start
    time. ``start_time``: for videos whose name holds none (e.g. cameras started together)."""
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder")
    try:
        re.compile(start_time_pattern)
    except re.error as exc:
        raise UserError(f"--start-time-pattern {start_time_pattern!r}: {exc}") from None
    paths = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES
    )
    if not paths:
        suffixes = ", ".join(sorted(VIDEO_SUFFIXES))
        raise UserError(f"{folder}: no video files under it (looked for {suffixes})")
    result = Scan(folder)
    readable: list[tuple[Path, VideoInfo]] = []
    for path in paths:
        try:
            readable.append((path, probe(path)))
        except VideoError as exc:
            result.unreadable.append((path, str(exc).removeprefix(f"{path}: ")))
    if not readable:
        raise UserError(f"{folder}: none of its {len(paths)} video files can be read")
    cameras, result.grouping = group_cameras(folder, [p for p, _ in readable], camera_pattern)
    for path, info in readable:
        try:
            parsed = start_time_in_name(path.name, start_time_pattern)
        except ValueError:  # a match that is no date (e.g. 2020-13-45): the name holds no time
            parsed = None
        video = FoundVideo(path, cameras[path], info, parsed or start_time)
        if video.start_time is None:
            video.why_no_time = f"no time in the file name (pattern {start_time_pattern})"
        result.videos.append(video)
    _placeholder_times(result.videos)
    _video_ids(result.videos)
    return result


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a TOML basic string


def _path_from(base: Path, path: Path) -> str:
    """``path`` as the pipeline file names it: relative to its folder when inside it, else
    absolute (a footage folder elsewhere stays found when the pipeline file moves)."""
    path = path.resolve()
    return path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)


def _video_block(video: FoundVideo, base: Path) -> list[str]:
    info = video.info
    lines = [
        f"# {info.width}x{info.height}, {info.fps:g} fps, {info.frame_count} frames "
        f"({timedelta(seconds=round(info.duration_s))})",
        "[[videos]]",
        f"camera = {_toml_string(video.camera)}",
        f"path = {_toml_string(_path_from(base, video.path))}",
    ]
    if video.video_id != video.path.stem:
        lines.append(f"id = {_toml_string(video.video_id)}")
    if video.start_time is not None:
        lines.append(f"start_time = {video.start_time:%Y-%m-%dT%H:%M:%S}")
    return lines


def render(result: Scan, location: str, timezone: str, out: Path, roi_dir: Path) -> str:
    """The commented pipeline file (``out``'s folder is the base of its relative paths)."""
    base = out.resolve().parent
    when = [v.start_time for v in result.timed if v.start_time is not None]
    lines = [
        f"# Pipeline for {location}, written by `cyclist-dataset init {result.folder}`.",
        f"# {len(result.videos)} videos, {len(result.cameras)} camera(s): {result.grouping}.",
        "# Next: draw each camera's region of interest in the browser (the stubs cover the whole",
        f"# frame) with `cyclist-dataset roi edit {out.name}`, then `cyclist-dataset run "
        f"{out.name}`.",
        "",
        f"workspace = {_toml_string(f'workspace/{location}')}   # manifests and crops go here",
        f"roi_dir = {_toml_string(_path_from(base, roi_dir))}"
        "   # <roi_dir>/<location>/<camera>.json",
        "",
        "[location]",
        f"name = {_toml_string(location)}",
        f"timezone = {_toml_string(timezone)}   # the recording clock's zone (names, start times)",
    ]
    if result.timed:
        first, last = min(when), max(when)
        lines.append(f"# recordings start between {first} and {last} (local time)")
    lines += [""]
    for camera in result.cameras:
        lines += ["[[cameras]]", f"id = {_toml_string(camera)}"]
    lines += [""]
    for camera in result.cameras:
        for video in (v for v in result.timed if v.camera == camera):
            lines += [*_video_block(video, base), ""]
    if result.untimed:
        lines += [
            "# These videos have no recording start time: set `start_time` (local time of the",
            "# first frame) and remove the `# ` in front of each line to include them.",
        ]
        for video in result.untimed:
            lines += [f"# ({video.why_no_time})"]
            lines += [f"# {line}" for line in _video_block(video, base)]
            lines += ['# start_time = "YYYY-MM-DDTHH:MM:SS"', ""]
    lines += [
        "[detect]",
        "# yolox_onnx runs offline (the model ships as an asset); faster_rcnn is the thesis's",
        "# detector and needs torchvision's COCO weights once.",
        'backend = "yolox_onnx"',
        'model = "models/yolox_nano.onnx"',
        'classes = ["person", "bicycle"]',
        "",
        "[filter]",
        "# Boxes that become tracklets: riders, at least this wide, no wider than tall * ratio.",
        'classes = ["person"]',
        "min_width_px = 30",
        "max_aspect_ratio = 0.75",
        "",
        "[track]",
        "# Thesis Table II in seconds; the options beyond it are at their defaults (README",
        '# "Tracking").',
        "",
        "[anonymize]",
        'method = "median"   # every person blurred; the privacy audit checks every crop',
        "",
    ]
    return "\n".join(lines)


def roi_stub(width: int, height: int, camera: str) -> str:
    """A whole-frame ROI file, in the layout of the project's own (a point per pair)."""
    corners = [[0, 0], [width, 0], [width, height], [0, height]]
    description = f"{camera}: the whole frame (a stub written by `init`); draw where cyclists ride"
    return (
        "{\n"
        f'  "description": {json.dumps(description)},\n'
        f'  "image_width": {width},\n'
        f'  "image_height": {height},\n'
        f'  "include": [{json.dumps(corners)}],\n'
        '  "exclude": []\n'
        "}\n"
    )


@dataclass(frozen=True)
class Written:
    pipeline: Path
    rois_written: list[Path]
    rois_kept: list[Path]


def write(
    result: Scan, location: str, timezone: str, out: Path, roi_dir: Path, force: bool = False
) -> Written:
    """The pipeline file and a whole-frame ROI stub per camera (an existing ROI file is kept),
    after checking everything: on any problem nothing is written."""
    if out.exists() and not force:
        raise UserError(f"{out} exists; give --force to replace it, or another --out")
    sizes: dict[str, set[tuple[int, int]]] = defaultdict(set)
    for video in result.videos:
        sizes[video.camera].add((video.info.width, video.info.height))
    mixed = {c: s for c, s in sizes.items() if len(s) > 1}
    if mixed:
        camera, found = next(iter(mixed.items()))
        listed = ", ".join(f"{w}x{h}" for w, h in sorted(found))
        raise UserError(
            f"camera {camera}: its videos have different frame sizes ({listed}), so they are not "
            "one camera view; give --camera-pattern or put each camera's videos in a folder"
        )
    text = render(result, location, timezone, out, roi_dir)
    # The file must load as it will be read: written aside, in the same folder (relative paths).
    probe_file = out.with_name(f".{out.name}.init-check")
    try:
        probe_file.parent.mkdir(parents=True, exist_ok=True)
        probe_file.write_text(text, encoding="utf-8")
        if result.timed:
            load_pipeline(probe_file)
    except ConfigError as exc:
        raise UserError(f"the pipeline file init would write is not valid: {exc}") from None
    finally:
        probe_file.unlink(missing_ok=True)
    written, kept = [], []
    for camera, [(width, height)] in sorted((c, sorted(s)) for c, s in sizes.items()):
        path = roi_dir / location / f"{camera}.json"
        if path.exists():
            kept.append(path)
            continue
        write_text(path, roi_stub(width, height, camera))
        written.append(path)
    write_text(out, text)
    return Written(out, written, kept)
