"""Whole frames shown to people (the ROI editor, ``roi preview``, the run report): a camera's real
frame with every detected person blurred as ``anonymize-video`` blurs them, then audited for faces
the way a crop is (found faces blurred again, or the frame refused) before anyone sees it.

The raw frame (``CameraFrame.image``) is never served or written, except by ``roi preview
--raw-unblurred-persons``: what is served or written is ``sealed`` bytes, audited exactly as
stored (``shown_frame_jpeg``; a drawing over the shown frame is sealed again).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cyclist_dataset.core.config import (
    AnonymizeConfig,
    ImportConfig,
    PipelineConfig,
    VideoConfig,
    YoloxConfig,
)
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.geometry import pad_box
from cyclist_dataset.core.roi import Roi, load_roi
from cyclist_dataset.errors import RoiError, UserError
from cyclist_dataset.io import video
from cyclist_dataset.stages.anonymize.crops import Anonymizer, decode
from cyclist_dataset.stages.detect import Detector, make_detector
from cyclist_dataset.stages.detect.imported import (
    ImportedDetections,
    VideoShape,
    import_file,
    read_detections,
)
from cyclist_dataset.stages.filter import drop_reasons
from cyclist_dataset.tools.anonymize_video import blur_regions

# Person boxes are grown by this share of their size on each side before the blur, as
# `anonymize-video` does (its default margin).
BLUR_MARGIN = 0.1
# Roles whose boxes show a person.
PERSON_ROLES = ("person", "cyclist")
# Beyond the pipeline's own boxes, YOLOX-nano looks for persons to blur at a low score floor, on
# the whole frame and on 2x2 overlapping tiles (each seen twice as large at its 416 px input).
# Measured on the first Radeberg demo frame (800x600): the whole frame alone finds 1 of the
# persons; the tiles add the far pedestrian and the cyclist (about 25-70 px tall). A false box
# only blurs a patch of road.
FINDER_SCORE_MIN = 0.1
FINDER_GRID = 2
FINDER_OVERLAP = 0.25


@dataclass
class FrameModels:
    """What shown frames need, loaded once and reused: the pipeline's detector (None: the
    pipeline imports its detections), the person finder, the blur-and-audit anonymizer, and the
    imported files read so far (by path, size and mtime)."""

    pipeline: Detector | None
    finder: Detector
    anonymizer: Anonymizer
    imports: dict[tuple[str, int, int], ImportedDetections] = field(default_factory=dict)

    def imported(self, path: Path, config: ImportConfig, shape: VideoShape) -> ImportedDetections:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self.imports:
            self.imports[key] = read_detections(path, config, shape)
        return self.imports[key]


def frame_models(config: PipelineConfig) -> FrameModels:
    pipeline = (
        None
        if isinstance(config.detect, ImportConfig)
        else make_detector(config.detect, config.runtime)
    )
    finder = make_detector(
        YoloxConfig(score_min=FINDER_SCORE_MIN, classes=("person",)), config.runtime
    )
    return FrameModels(pipeline, finder, frame_anonymizer(config.anonymize))


def _detect(detector: Detector, image: np.ndarray) -> Detections:
    return detector.detect_prepared([detector.prepare(image)])[0]


def find_persons(finder: Detector, image: np.ndarray) -> np.ndarray:
    """(N, 4) person boxes in the whole frame and in its overlapping tiles."""
    height, width = image.shape[:2]
    span = FINDER_GRID - (FINDER_GRID - 1) * FINDER_OVERLAP
    tile_h, tile_w = int(height / span), int(width / span)
    boxes = [_detect(finder, image).xyxy]
    for row in range(FINDER_GRID):
        for column in range(FINDER_GRID):
            y0 = min(height - tile_h, int(row * tile_h * (1 - FINDER_OVERLAP)))
            x0 = min(width - tile_w, int(column * tile_w * (1 - FINDER_OVERLAP)))
            found = _detect(finder, np.ascontiguousarray(image[y0 : y0 + tile_h, x0 : x0 + tile_w]))
            boxes.append(found.xyxy + np.array([x0, y0, x0, y0], np.float32))
    return np.concatenate(boxes).astype(float).reshape(-1, 4)


@dataclass(frozen=True)
class CameraFrame:
    camera: str
    video_id: str
    frame_index: int
    image: np.ndarray  # RAW BGR pixels: never served or written; see `shown_frame_jpeg`
    detections: Detections  # the pipeline's boxes of this frame (its detector or imported file)
    persons: np.ndarray  # (N, 4) every box to blur (the pipeline's persons and the blur detector's)
    roi: Roi | None  # the camera's ROI scaled to the frame; None: its file is missing or invalid
    reasons: np.ndarray  # per box: None if the filter keeps it, else the first rule it fails

    @property
    def width(self) -> int:
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        return int(self.image.shape[0])


def camera_video(config: PipelineConfig, camera: str, video_id: str | None) -> VideoConfig:
    """The named video of a camera, or the camera's first."""
    candidates = [v for v in config.videos if v.camera == camera and video_id in (None, v.video_id)]
    if not candidates:
        known = [v.video_id for v in config.videos if v.camera == camera]
        cameras = [c.id for c in config.cameras]
        raise UserError(
            f"{config.source}: no video {video_id or ''} of camera {camera!r} "
            f"(cameras: {cameras}; this camera's videos: {known})"
        )
    return candidates[0]


def camera_frame(
    config: PipelineConfig,
    camera: str,
    video_id: str | None = None,
    frame_index: int = 0,
    models: FrameModels | None = None,
) -> CameraFrame:
    """One real frame of a camera, its boxes as the pipeline sees them (its detector, or its
    imported file), the filter's verdict per box, and every person box to blur: the pipeline's
    persons and cyclists and the finder's persons. ``models``: loaded ``frame_models`` to reuse."""
    chosen = camera_video(config, camera, video_id)
    path = chosen.source_path()
    info = video.probe(path)
    if not 0 <= frame_index < info.frame_count:
        raise UserError(
            f"frame {frame_index} is outside {chosen.video_id} (frames 0-{info.frame_count - 1})"
        )
    image = next(video.frames(path, info.fps, wanted={frame_index})).image
    models = models or frame_models(config)
    if models.pipeline is None:
        assert isinstance(config.detect, ImportConfig)
        shape = VideoShape(info.width, info.height, info.fps, info.frame_count)
        file = import_file(config.detect, chosen.video_id, chosen.source_name)
        imported = models.imported(file, config.detect, shape)
        found = imported.frames.get(frame_index, Detections.empty())
    else:
        found = _detect(models.pipeline, image)
    persons = np.concatenate(
        [
            found.xyxy[np.isin(found.class_name, PERSON_ROLES)].astype(float).reshape(-1, 4),
            find_persons(models.finder, image),
        ]
    )
    roi: Roi | None
    try:
        roi = load_roi(config.roi_path(camera)).scaled_to(
            info.width, info.height, str(config.roi_path(camera))
        )
    except RoiError:
        roi = None
    reasons = drop_reasons(found, roi or Roi.whole_frame(info.width, info.height), config.filter)
    return CameraFrame(
        camera,
        chosen.video_id,
        frame_index,
        image,
        found,
        persons,
        roi,
        reasons,
    )


def frame_anonymizer(config: AnonymizeConfig, image_format: str = "jpg") -> Anonymizer:
    """The pipeline's blur over whole person boxes (``face``, which blurs faces only, becomes
    ``median``: a frame shows whole people), encoded as ``image_format`` and always audited: a
    frame is shown to people even where a pipeline switched the crops' audit off."""
    return Anonymizer(
        config.model_copy(
            update={
                "method": "median" if config.method == "face" else config.method,
                "format": image_format,
                "audit": config.audit.model_copy(update={"enabled": True}),
            }
        )
    )


def seal(image: np.ndarray, anonymizer: Anonymizer, what: str) -> bytes:
    """The encoded bytes of an image that has its persons blurred, audited exactly as they will
    be stored or served; faces the audit still finds are blurred again (as for crops), and an
    image where one is still found is refused (UserError)."""
    sealed = anonymizer.seal(image)
    if sealed.data is None:
        raise UserError(f"{what} is not shown: {sealed.refused}; pick another frame")
    return sealed.data


def shown_frame_jpeg(
    frame: CameraFrame, config: PipelineConfig, models: FrameModels | None = None
) -> bytes:
    """The frame with every person box blurred, as audited JPEG bytes."""
    anonymizer = models.anonymizer if models is not None else frame_anonymizer(config.anonymize)
    image = frame.image.copy()
    blur_regions(image, [pad_box(box, BLUR_MARGIN) for box in frame.persons], anonymizer)
    return seal(image, anonymizer, f"frame {frame.frame_index} of {frame.video_id}")


def shown_frame(
    frame: CameraFrame, config: PipelineConfig, models: FrameModels | None = None
) -> np.ndarray:
    """``shown_frame_jpeg`` as pixels (exactly the audited ones), to draw on; what is drawn is
    sealed again before it is stored."""
    return decode(shown_frame_jpeg(frame, config, models))
