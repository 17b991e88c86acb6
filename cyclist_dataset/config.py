"""Pipeline files (``pipelines/*.toml``): parsed and validated once, here, at load.

Relative paths in a pipeline file are resolved against the folder that holds it.
"""

from __future__ import annotations

import re
import tomllib
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cyclist_dataset.assets import REGISTRY
from cyclist_dataset.errors import ConfigError


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LocationConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    timezone: str = "UTC"  # the zone of the recording clock (file names, explicit start times)
    # Where the recording start time sits in a video file name; groups: date and time.
    start_time_pattern: str = r"(\d{4}-\d{2}-\d{2})_(\d{2}-\d{2}-\d{2})"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')") from None
        return value


class CameraConfig(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")


class VideoConfig(_Section):
    camera: str
    asset: str | None = None  # a name from the asset registry
    path: Path | None = None  # or a file on disk
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")
    # ISO 8601 local time of the first frame (in the location's time zone); default: from the file name
    start_time: datetime | None = None

    @model_validator(mode="after")
    def _one_source(self) -> "VideoConfig":
        if (self.asset is None) == (self.path is None):
            raise ValueError("give exactly one of `asset` (a registry name) or `path` (a file)")
        if self.asset is not None and self.asset not in REGISTRY:
            raise ValueError(f"asset {self.asset!r} is not in the asset registry (`cyclist-dataset assets list`)")
        return self

    @property
    def source_name(self) -> str:
        return self.asset if self.asset is not None else str(self.path)

    @property
    def video_id(self) -> str:
        return self.id or Path(self.source_name).stem


FASTER_RCNN_ARCHITECTURES = ("fasterrcnn_resnet50_fpn_v2", "fasterrcnn_resnet50_fpn",
                             "fasterrcnn_mobilenet_v3_large_fpn", "fasterrcnn_mobilenet_v3_large_320_fpn")
# Filter score thresholds per backend: the thesis's 0.7 was set for Faster R-CNN; YOLOX-nano's
# scores run lower (measured on the Radeberg crossings, see README "Choosing thresholds").
DEFAULT_SCORE_MIN = {"faster_rcnn": 0.7, "yolox_onnx": 0.4}


class DetectConfig(_Section):
    backend: Literal["faster_rcnn", "yolox_onnx"] = "faster_rcnn"
    # faster_rcnn: a torchvision architecture and its weights: "DEFAULT" (torchvision's COCO weights,
    # cached in $TORCH_HOME/hub/checkpoints) or a local .pth checkpoint of that architecture
    architecture: Literal[FASTER_RCNN_ARCHITECTURES] = "fasterrcnn_resnet50_fpn_v2"  # type: ignore[valid-type]
    weights: str = "DEFAULT"
    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")
    half: bool = False  # float16 inference, CUDA only
    # yolox_onnx: an asset name or a file path, and onnxruntime providers (empty: CUDA when available, else CPU)
    model: str = "models/yolox_nano.onnx"
    providers: tuple[str, ...] = ()
    inference_workers: int = Field(0, ge=0)  # CPU sessions run side by side; 0: one per core
    # both
    classes: tuple[str, ...] = ("person", "bicycle")
    score_min: float = Field(0.25, ge=0, le=1)  # the detector's own floor; the filter stage applies the real rule
    nms_iou: float = Field(0.45, gt=0, le=1)
    batch_size: int = Field(8, ge=1)
    # Run the detector at this rate, picking frames by timestamp (e.g. 10 of 25 fps); unset: every frame
    sample_fps: float | None = Field(None, gt=0)
    # Rider-bicycle pairing: a bicycle may belong to a person whose box covers this share of it
    pairing_min_overlap: float = Field(0.3, gt=0, le=1)

    @property
    def identity_params(self) -> dict:
        """The settings that decide this backend's output (others are ignored for fingerprints)."""
        shared = {k: getattr(self, k) for k in ("backend", "classes", "score_min", "nms_iou", "sample_fps",
                                                "pairing_min_overlap")}
        if self.backend == "faster_rcnn":
            return {**shared, "architecture": self.architecture, "weights": self.weights, "half": self.half}
        return {**shared, "model": self.model}


class FilterConfig(_Section):
    classes: tuple[str, ...] = ("person",)  # classes that become tracklets (riders)
    score_min: float | None = Field(None, ge=0, le=1)  # unset: the backend's default (DEFAULT_SCORE_MIN)
    max_aspect_ratio: float = Field(0.6, gt=0)  # width / height
    min_width_px: float = Field(60, ge=0)


class TrackConfig(_Section):
    iou_min: float = Field(0.3, ge=0, le=1)
    iou_max: float = Field(0.9, ge=0, le=1)
    iou_kalman: float = Field(0.5, ge=0, le=1)
    expiration_s: float = Field(0.5, gt=0)
    min_pickup_s: float = Field(0.3, ge=0)
    naive_max_gap_s: float = Field(1.0, gt=0)  # Algorithm 1: young tracks (<= 2 boxes) match within this gap
    # A tracklet is a cyclist when its rider is paired with a bicycle in at least this share of its boxes;
    # the detector misses bicycles often (YOLOX-nano pairs the Radeberg riders in 21-48% of frames).
    require_bicycle: bool = True
    min_bicycle_share: float = Field(0.15, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> "TrackConfig":
        if self.iou_min > self.iou_max:
            raise ValueError(f"iou_min ({self.iou_min}) must not exceed iou_max ({self.iou_max})")
        return self


class AnonymizeConfig(_Section):
    method: Literal["median", "gaussian", "average"] = "median"
    crop: Literal["rider", "rider_and_bicycle"] = "rider"  # thesis: the rider's box
    window_px: int = Field(5, ge=3)  # blur window at the reference crop height (thesis: 5 px at 128 px)
    reference_height_px: int = Field(128, ge=1)
    jpeg_quality: int = Field(95, ge=1, le=100)

    @field_validator("window_px")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"window_px must be odd (blur kernels are centred), got {value}")
        return value


class SplitConfig(_Section):
    validation_start_minute: int = Field(50, ge=0, le=59)
    validation_minutes: int = Field(10, ge=0, le=60)


class PipelineConfig(_Section):
    workspace: Path
    roi_dir: Path
    location: LocationConfig
    cameras: tuple[CameraConfig, ...] = Field(min_length=1)
    videos: tuple[VideoConfig, ...] = Field(min_length=1)
    detect: DetectConfig = DetectConfig()
    filter: FilterConfig = FilterConfig()
    track: TrackConfig = TrackConfig()
    anonymize: AnonymizeConfig = AnonymizeConfig()
    split: SplitConfig = SplitConfig()
    source: Path = Path("<memory>")  # the pipeline file, for messages

    @model_validator(mode="after")
    def _backend_defaults(self) -> "PipelineConfig":
        if self.filter.score_min is None:
            score_min = DEFAULT_SCORE_MIN[self.detect.backend]
            object.__setattr__(self, "filter", self.filter.model_copy(update={"score_min": score_min}))
        return self

    @model_validator(mode="after")
    def _references(self) -> "PipelineConfig":
        cameras = [c.id for c in self.cameras]
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"camera ids must be unique, got {cameras}")
        seen: set[str] = set()
        for i, video in enumerate(self.videos):
            if video.camera not in cameras:
                raise ValueError(f"videos[{i}].camera {video.camera!r} is not one of the cameras {cameras}")
            if video.video_id in seen:
                raise ValueError(f"videos[{i}]: video id {video.video_id!r} is used twice; give one an `id`")
            seen.add(video.video_id)
        return self

    def roi_path(self, camera: str) -> Path:
        return self.roi_dir / self.location.name / f"{camera}.json"

    def video_start_utc(self, video: VideoConfig) -> datetime:
        """Recording start of a video's first frame, in UTC."""
        zone = ZoneInfo(self.location.timezone)
        if video.start_time is not None:
            local = video.start_time
        else:
            match = re.search(self.location.start_time_pattern, Path(video.source_name).name)
            if not match:
                raise ConfigError(
                    f"{self.source}: video {video.video_id}: no recording start time in its file name "
                    f"(pattern {self.location.start_time_pattern!r}); add `start_time = \"YYYY-MM-DDTHH:MM:SS\"`"
                )
            local = datetime.strptime("_".join(match.groups()), "%Y-%m-%d_%H-%M-%S")
        if local.tzinfo is None:
            local = local.replace(tzinfo=zone)
        return local.astimezone(timezone.utc)


def _describe(error: ValidationError, source: Path) -> str:
    lines = [f"{source}: invalid pipeline file"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  key `{key}`: {message}")
    return "\n".join(lines)


def load_pipeline(path: Path | str, workspace: Path | None = None) -> PipelineConfig:
    """Read and validate a pipeline file; every problem becomes a ConfigError naming file and key."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"pipeline file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    base = path.resolve().parent
    raw.setdefault("roi_dir", "../roi_definitions")
    raw.setdefault("workspace", f"../workspace/{path.stem}")
    try:
        config = PipelineConfig.model_validate({**raw, "source": path})
    except ValidationError as exc:
        raise ConfigError(_describe(exc, path)) from None
    detect = config.detect
    if detect.model not in REGISTRY:
        detect = detect.model_copy(update={"model": str(base / detect.model)})
    if detect.weights != "DEFAULT":
        detect = detect.model_copy(update={"weights": str(base / detect.weights)})
    resolved_videos = tuple(
        v.model_copy(update={"path": base / v.path}) if v.path is not None else v for v in config.videos
    )
    config = config.model_copy(
        update={
            "workspace": (workspace if workspace is not None else base / config.workspace).resolve(),
            "roi_dir": (base / config.roi_dir).resolve(),
            "videos": resolved_videos,
            "detect": detect,
        }
    )
    for video in config.videos:
        config.video_start_utc(video)  # fail now, not in the split stage, on a bad file name
    return config
