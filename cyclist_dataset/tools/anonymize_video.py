"""Whole videos: a copy of a video with every detected person blurred in every frame
(``cyclist-dataset anonymize-video``), for footage that is kept or shown as video."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pyarrow.compute as pc

from cyclist_dataset.core.config import AnonymizeConfig, DetectSection, RuntimeConfig, TrackConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.geometry import clip_box, pad_box
from cyclist_dataset.errors import UserError
from cyclist_dataset.io import progress as progress_display
from cyclist_dataset.io import video
from cyclist_dataset.io.atomic import atomic_path
from cyclist_dataset.stages import detect
from cyclist_dataset.stages.anonymize.crops import Anonymizer
from cyclist_dataset.stages.track import track


@dataclass
class VideoAnonymization:
    output: Path
    frames: int
    fps: float
    boxes_detected: int  # person boxes the detector found (in the sampled frames)
    boxes_blurred: int  # person regions blurred over all frames (detected, held and interpolated)
    tracks: int


def video_person_boxes(
    frame_index: np.ndarray,
    timestamp: np.ndarray,
    xyxy: np.ndarray,
    frame_count: int,
    fps: float,
    track_config: TrackConfig,
    hold_frames: int,
    margin: float,
) -> tuple[dict[int, list[np.ndarray]], int]:
    """Per frame, the (dilated) person regions to blur: every detection in its own frame and held
    ``hold_frames`` frames to each side, plus, between two consecutive boxes of a track, the box
    interpolated for each frame in between. Returns the boxes and the number of tracks."""
    boxes: dict[int, list[np.ndarray]] = {}

    def add(index: int, box: np.ndarray) -> None:
        if 0 <= index < frame_count:
            boxes.setdefault(index, []).append(pad_box(box, margin))

    for f, box in zip(frame_index, xyxy, strict=True):
        for index in range(int(f) - hold_frames, int(f) + hold_frames + 1):
            add(index, box)
    tracks = track(timestamp, xyxy, track_config, frame_index).tracklets if len(xyxy) else []
    for tracklet in tracks:
        # Every box the track matched (stationary boxes it replaced in its rows included), in time
        # order.
        rows = np.asarray(tracklet.matched)
        rows = rows[np.argsort(timestamp[rows], kind="stable")]
        for a, b in zip(rows[:-1], rows[1:], strict=True):
            fa, fb = int(frame_index[a]), int(frame_index[b])
            for index in range(fa + 1, fb):
                w = (index - fa) / (fb - fa)
                add(index, (1 - w) * xyxy[a] + w * xyxy[b])
    return boxes, len(tracks)


def blur_regions(image: np.ndarray, regions: list[np.ndarray], anonymizer: Anonymizer) -> int:
    """Blur each region (a dilated person box) of a frame in place, as the anonymizer blurs a
    crop; returns how many were blurred (regions under 2 px after clipping are not)."""
    height, width = image.shape[:2]
    blurred = 0
    for box in regions:
        x1, y1, x2, y2 = clip_box(box, width, height)
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        image[y1:y2, x1:x2], _ = anonymizer.anonymize(np.ascontiguousarray(image[y1:y2, x1:x2]))
        blurred += 1
    return blurred


def anonymize_video_file(
    input_path: Path,
    output_path: Path,
    config: AnonymizeConfig,
    detect_config: DetectSection,
    track_config: TrackConfig | None = None,
    margin: float = 0.1,
    progress: bool = True,
    runtime: RuntimeConfig = RuntimeConfig(),
) -> VideoAnonymization:
    """Write a copy of a video with every detected person blurred in every frame.

    Persons are detected in (sampled) frames; a track (the pipeline's tracker, every track kept)
    carries each person's box through the frames between its detections (linear interpolation),
    and each detection also covers the frames up to the next sampled one. Boxes are grown by
    ``margin`` of their size on each side and blurred as ``config.method`` says (``face``: faces
    and the head fallback, per frame). Written atomically: a temporary file, then a rename.
    """
    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise UserError(f"the output {output_path} must not be the input video")
    if output_path.suffix.lower() not in (".mp4", ".avi", ".mkv", ".mov"):
        raise UserError(
            f"output {output_path}: use a video file name ending in .mp4, .avi, .mkv or .mov"
        )
    info = video.probe(input_path)
    detect_config = detect_config.model_copy(update={"classes": ("person",)})
    detector = detect.make_detector(detect_config, runtime)
    sample_fps = detect_config.sample_fps
    frames = video.frames(input_path, info.fps, sample_fps=sample_fps)
    expected = info.frame_count * min(1.0, (sample_fps or info.fps) / info.fps)
    table = detect.detect_frames(
        frames, detector, input_path.stem, detect_config, runtime, total=round(expected)
    )
    persons = table.filter(pc.equal(table.column("class_name"), "person"))
    xyxy = Detections.from_table(persons).xyxy
    frame_index = persons.column("frame_index").to_numpy()
    timestamp = persons.column("timestamp_s").to_numpy()
    hold = max(1, math.ceil(info.fps / sample_fps)) if sample_fps and sample_fps < info.fps else 1
    # every track, however short
    keep_all = {
        "min_pickup_s": 0.0,
        "require_bicycle": False,
        "min_boxes": 1,
    }
    track_config = track_config or TrackConfig()
    track_config = track_config.model_copy(
        update={k: v for k, v in keep_all.items() if k in TrackConfig.model_fields}
    )
    boxes, n_tracks = video_person_boxes(
        frame_index,
        timestamp,
        xyxy.astype(float),
        info.frame_count,
        info.fps,
        track_config,
        hold,
        margin,
    )

    anonymizer = Anonymizer(
        config.model_copy(update={"audit": config.audit.model_copy(update={"enabled": False})})
    )
    fourcc = cv2.VideoWriter.fourcc(
        *("mp4v" if output_path.suffix.lower() in (".mp4", ".mov") else "MJPG")
    )
    written = blurred_boxes = 0
    with atomic_path(output_path, extension=output_path.suffix) as tmp:
        writer = cv2.VideoWriter(str(tmp), fourcc, info.fps, (info.width, info.height))
        try:
            if not writer.isOpened():
                raise UserError(f"OpenCV cannot write a video to {output_path}")
            for frame in progress_display.iterate(
                video.frames(input_path, info.fps),
                f"blur {input_path.name}",
                total=info.frame_count,
                unit="frame",
                enabled=progress,
            ):
                image = frame.image
                blurred_boxes += blur_regions(image, boxes.get(frame.index, []), anonymizer)
                writer.write(image)
                written += 1
        finally:
            writer.release()
    return VideoAnonymization(output_path, written, info.fps, len(xyxy), blurred_boxes, n_tracks)
