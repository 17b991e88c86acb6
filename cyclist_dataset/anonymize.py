"""Anonymize stage: cut each tracklet box out of its frame, blur it, and only then write it.

A crop exists unblurred only in memory: it is blurred, encoded in memory, checked by the privacy
audit (face detectors on the encoded-and-decoded crop, with extra blur where they still find a
face), and written to a temporary file that is renamed into place. No unblurred pixel ever reaches
the disk, so a crash at any point leaves only blurred crops (and blurred temporary files).

Methods (``anonymize.method``):

- ``median`` (default), ``gaussian``, ``average``: OpenCV's filter over the whole crop, with a
  window of ``window_px`` at a crop height of ``reference_height_px`` (thesis: 5 px at 128 px)
  scaled with the crop and rounded up to odd, so every crop size is blurred alike.
- ``face``: only faces are blurred (the thesis's "YoloFace" variant, which costs re-ID accuracy
  least). Faces are found in each crop by CenterFace (and optionally YuNet), grown by
  ``face_mask_scale`` and blurred with ``face_filter`` at a window of ``face_window_fraction`` of
  their height. A face box found in a neighbouring frame of the same tracklet (within
  ``face_carry_s``) is carried over to a frame where it was missed, and wherever no face was found
  in the head region (top ``head_fraction`` of the box) that whole region is blurred: privacy never
  depends on the detector's recall.

Crops are written in parallel threads (blur, face detection, audit, encode, write) with a bounded
number in flight, so memory stays flat however many crops a video gives.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from tqdm import tqdm

from cyclist_dataset import schemas, video
from cyclist_dataset.config import AnonymizeConfig, DetectConfig, TrackConfig
from cyclist_dataset.errors import UserError
from cyclist_dataset.faces import EMPTY, detect_faces, make_face_detector
from cyclist_dataset.workspace import Workspace, atomic_path


def blur_window(crop_height: int, config: AnonymizeConfig) -> int:
    """The blur window for a crop: ``window_px`` at ``reference_height_px``, scaled with the crop.

    Scaling keeps a 400 px crop as unrecognisable as a 128 px one. Rounded *up* to the next odd
    size (kernels are centred), never below 3: privacy never gets less blur than the thesis's ratio.
    """
    window = max(3, math.ceil(config.window_px * crop_height / config.reference_height_px - 1e-9))
    return window if window % 2 else window + 1


# Gaussian sigma per pixel of window: OpenCV's default sigma for the thesis's 5 px kernel (1.1),
# scaled with the window (OpenCV's own default grows slower than the kernel, blurring large crops less).
GAUSSIAN_SIGMA_PER_PX = 0.22


def blur(image: np.ndarray, method: str, window: int) -> np.ndarray:
    """OpenCV's filter with a ``window`` x ``window`` kernel (odd)."""
    if method == "median":
        return cv2.medianBlur(image, window)
    if method == "gaussian":
        sigma = GAUSSIAN_SIGMA_PER_PX * window
        return cv2.GaussianBlur(image, (window, window), sigmaX=sigma, sigmaY=sigma)
    if method == "average":
        return cv2.blur(image, (window, window))
    raise ValueError(f"unknown blur method {method!r}")


def _odd(value: float) -> int:
    size = max(3, math.ceil(value - 1e-9))
    return size if size % 2 else size + 1


def blur_region(image: np.ndarray, box: tuple[int, int, int, int], method: str, window: int) -> None:
    """Blur ``image[y1:y2, x1:x2]`` in place; the filter sees the pixels around the region (no
    replicated border inside the crop)."""
    x1, y1, x2, y2 = box
    if x2 <= x1 or y2 <= y1:
        return
    height, width = image.shape[:2]
    pad = window // 2 + 1
    px1, py1, px2, py2 = max(0, x1 - pad), max(0, y1 - pad), min(width, x2 + pad), min(height, y2 + pad)
    blurred = blur(np.ascontiguousarray(image[py1:py2, px1:px2]), method, window)
    image[y1:y2, x1:x2] = blurred[y1 - py1:y2 - py1, x1 - px1:x2 - px1]


def clip_box(box: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    """Integer pixel bounds of a box inside the frame (outward rounding: nothing of the person is cut off)."""
    x1, y1, x2, y2 = box[:4]
    return (max(0, int(math.floor(x1))), max(0, int(math.floor(y1))),
            min(width, int(math.ceil(x2))), min(height, int(math.ceil(y2))))


def grow_box(box: np.ndarray, scale: float) -> np.ndarray:
    """A box grown about its centre to ``scale`` times its width and height."""
    x1, y1, x2, y2 = box[:4]
    dx, dy = (x2 - x1) * (scale - 1) / 2, (y2 - y1) * (scale - 1) / 2
    return np.array([x1 - dx, y1 - dy, x2 + dx, y2 + dy])


def face_region(face: np.ndarray, scale: float, min_aspect: float = 0.8) -> np.ndarray:
    """The region blurred for a face box: at least ``min_aspect`` as wide as high (detectors give
    narrow boxes for profiles, whose nose and glasses stick out), then grown by ``scale``."""
    x1, y1, x2, y2 = face[:4]
    width, height = x2 - x1, y2 - y1
    if width < min_aspect * height:
        cx = (x1 + x2) / 2
        x1, x2 = cx - min_aspect * height / 2, cx + min_aspect * height / 2
    return grow_box(np.array([x1, y1, x2, y2]), scale)


def to_relative(faces: np.ndarray, width: int, height: int) -> np.ndarray:
    return faces / np.array([width, height, width, height, 1.0], dtype=np.float32) if len(faces) else EMPTY


def to_absolute(faces: np.ndarray, width: int, height: int) -> np.ndarray:
    return faces * np.array([width, height, width, height, 1.0], dtype=np.float32) if len(faces) else EMPTY


@dataclass
class Sealed:
    """A crop ready for the disk: its encoded bytes and what the audit said about them."""

    data: bytes
    audit_score: float | None  # None: audit disabled
    audit_passed: bool | None
    escalations: int


class Anonymizer:
    """Blurs crops as an ``AnonymizeConfig`` says, encodes them and audits them; thread-safe."""

    def __init__(self, config: AnonymizeConfig) -> None:
        from cyclist_dataset.audit import Auditor

        self.config = config
        self.face_detectors = ([make_face_detector(name, config.face_upscale_to_px) for name in config.face_detectors]
                               if config.method == "face" else [])
        self.auditor = Auditor(config.audit) if config.audit.enabled else None
        self.extension = config.format
        self._encode = ([cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality] if config.format == "jpg"
                        else [cv2.IMWRITE_PNG_COMPRESSION, 3])

    @property
    def params(self) -> dict:
        """What decides the pixels of every crop (stored with each crop's manifest row)."""
        c = self.config
        params: dict = {"method": c.method, "reference": [c.window_px, c.reference_height_px], "crop": c.crop,
                        "format": c.format}
        if c.format == "jpg":
            params["jpeg_quality"] = c.jpeg_quality
        if c.method == "face":
            params["face"] = {"filter": c.face_filter, "detectors": [d.identity for d in self.face_detectors],
                              "threshold": c.face_threshold, "mask_scale": c.face_mask_scale,
                              "window_fraction": c.face_window_fraction, "head_fraction": c.head_fraction,
                              "carry_s": c.face_carry_s, "upscale_to_px": c.face_upscale_to_px}
        if self.auditor is not None:
            params["audit"] = {**self.auditor.identity, "escalate": c.audit.escalate,
                               "max_escalations": c.audit.max_escalations}
        return params

    def find_faces(self, crop: np.ndarray) -> np.ndarray:
        """Faces in a crop, (N, 5) in crop pixels (the union of the configured detectors)."""
        return detect_faces(self.face_detectors, crop, self.config.face_threshold)

    def _face_window(self, region_height: float, crop_window: int) -> int:
        return max(crop_window, _odd(self.config.face_window_fraction * region_height))

    def anonymize(self, crop: np.ndarray, faces: np.ndarray | None = None,
                  carried: np.ndarray | None = None) -> tuple[np.ndarray, dict]:
        """The blurred crop and what was done. ``faces`` (crop pixels) skips detection; ``carried``:
        face boxes from neighbouring frames of the tracklet, blurred too when no face was found."""
        c = self.config
        height, width = crop.shape[:2]
        window = blur_window(height, c)
        if c.method != "face":
            return blur(crop, c.method, window), {"window_px": window}
        faces = self.find_faces(crop) if faces is None else faces
        out = crop.copy()
        regions = [face_region(face, c.face_mask_scale) for face in faces]
        used_carried = carried if carried is not None and len(faces) == 0 else EMPTY
        regions += [face_region(face, c.face_mask_scale) for face in used_carried]
        head_bottom = c.head_fraction * height
        # The fallback is skipped only if a face was found in the head region: a false face elsewhere
        # (a wheel, a sign) must not leave a missed real face unblurred.
        in_head = [f for f in faces if (f[1] + f[3]) / 2 <= head_bottom]
        fallback = not in_head
        if fallback:
            regions.append(np.array([0, 0, width, head_bottom]))
        windows = []
        for region in regions:
            box = clip_box(region, width, height)
            windows.append(self._face_window(box[3] - box[1], window))
            blur_region(out, box, c.face_filter, windows[-1])
        return out, {"window_px": window, "faces_found": int(len(faces)), "faces_carried": int(len(used_carried)),
                     "fallback": bool(fallback), "face_windows_px": windows}

    def encode(self, image: np.ndarray) -> bytes:
        ok, data = cv2.imencode(f".{self.extension}", image, self._encode)
        if not ok:
            raise RuntimeError(f"{self.extension} encoding failed for an image of shape {image.shape}")
        return data.tobytes()

    def seal(self, blurred: np.ndarray) -> Sealed:
        """Encode a blurred crop and audit exactly what would be stored; where a face is still found,
        blur the found faces again (up to ``max_escalations`` times)."""
        data = self.encode(blurred)
        if self.auditor is None:
            return Sealed(data, None, None, 0)
        audit = self.config.audit
        result = self.auditor.check(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
        escalations = 0
        while not result.passed and audit.escalate and escalations < audit.max_escalations:
            escalations += 1
            blurred = blurred.copy()
            height, width = blurred.shape[:2]
            window = blur_window(height, self.config)
            # Each round grows the boxes more and blurs harder (the last rounds flatten the region).
            scale = self.config.face_mask_scale * (1 + 0.25 * escalations)
            fraction = min(1.0, self.config.face_window_fraction * (1 + escalations))
            for face in result.faces:
                box = clip_box(face_region(face, scale), width, height)
                blur_region(blurred, box, self.config.face_filter, max(window, _odd(fraction * (box[3] - box[1]))))
            data = self.encode(blurred)
            result = self.auditor.check(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR))
        return Sealed(data, float(result.score), bool(result.passed), escalations)


def anonymize_crop(crop: np.ndarray, config: AnonymizeConfig) -> tuple[np.ndarray, dict]:
    """One crop blurred as ``config`` says (no audit); returns the image and the parameters used."""
    anonymizer = Anonymizer(config.model_copy(update={"audit": config.audit.model_copy(update={"enabled": False})}))
    blurred, info = anonymizer.anonymize(crop)
    return blurred, {"method": config.method, "reference": [config.window_px, config.reference_height_px], **info}


def crop_box(row, mode: str) -> np.ndarray:
    """The region to cut out: the rider's box, or (``rider_and_bicycle``) its union with the paired bicycle."""
    box = np.array([row.x1, row.y1, row.x2, row.y2], dtype=float)
    if mode == "rider_and_bicycle" and not pd.isna(row.bicycle_x1):
        bicycle = np.array([row.bicycle_x1, row.bicycle_y1, row.bicycle_x2, row.bicycle_y2], dtype=float)
        box = np.concatenate([np.minimum(box[:2], bicycle[:2]), np.maximum(box[2:], bicycle[2:])])
    return box


def crop_file_name(tracklet_id: str, camera: str, frame_index: int, extension: str = "jpg") -> str:
    """Market-1501-like: identity (the tracklet, ``<video>_t<n>``: the video is the sequence), camera,
    frame; e.g. ``cam1-2020-02-20_t0003_cam1_f000123.jpg``."""
    return f"{tracklet_id}_{camera}_f{frame_index:06d}.{extension}"


def remove_video_crops(workspace: Workspace, location: str, camera: str, video_id: str) -> None:
    """Delete crop folders of an earlier run of this video, so a changed result leaves no stale crops."""
    root = workspace.camera_crop_root(location, camera)
    if not root.is_dir():
        return
    pattern = re.compile(rf"^{re.escape(video_id)}_t\d+$")
    for folder in root.iterdir():
        if folder.is_dir() and pattern.match(folder.name):
            shutil.rmtree(folder)


def _bounded_map(pool: ThreadPoolExecutor, jobs: Iterable[tuple[Callable, tuple]], in_flight: int):
    """Submit jobs in order, at most ``in_flight`` pending; yield their results in submission order."""
    pending: deque[Future] = deque()
    for function, args in jobs:
        pending.append(pool.submit(function, *args))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _crop_jobs(video_path: Path, fps: float, rows: pd.DataFrame, config: AnonymizeConfig):
    """(row position, frame, crop pixels, crop box) for every row, in row order, frames streamed."""
    by_frame = {index: group for index, group in rows.groupby("frame_index", sort=True)}
    for frame in video.frames(video_path, fps, wanted=set(by_frame)):
        height, width = frame.image.shape[:2]
        for position, row in zip(by_frame[frame.index].index, by_frame[frame.index].itertuples(index=False)):
            x1, y1, x2, y2 = clip_box(crop_box(row, config.crop), width, height)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            yield position, frame, frame.image[y1:y2, x1:x2], (x1, y1, x2, y2)


def carry_faces(rows: pd.DataFrame, found: dict[int, np.ndarray], carry_s: float) -> dict[int, np.ndarray]:
    """For each row without faces: the faces (relative to the crop) of the nearest earlier and later
    rows of its tracklet that have faces, within ``carry_s`` seconds."""
    carried: dict[int, np.ndarray] = {}
    for _, group in rows.loc[list(found)].groupby("tracklet_id", sort=True):
        group = group.sort_values("timestamp_s", kind="stable")
        positions, times = list(group.index), group["timestamp_s"].to_numpy()
        with_faces = [i for i, p in enumerate(positions) if len(found[p])]
        for i, position in enumerate(positions):
            if len(found[position]):
                continue
            before = [j for j in with_faces if j < i and times[i] - times[j] <= carry_s + 1e-9]
            after = [j for j in with_faces if j > i and times[j] - times[i] <= carry_s + 1e-9]
            neighbours = ([before[-1]] if before else []) + ([after[0]] if after else [])
            if neighbours:
                carried[position] = np.concatenate([found[positions[j]] for j in neighbours])
    return carried


def write_crops(video_path: Path, fps: float, start_time: datetime, tracklets: pa.Table,
                workspace: Workspace, config: AnonymizeConfig, workers: int | None = None,
                progress: bool = True) -> pa.Table:
    """Write one anonymized image per tracklet row; return the crop rows (without split).

    ``face`` mode first finds the faces of every crop (a pass over the video that keeps only face
    boxes), so a face seen in a neighbouring frame of a tracklet can cover a frame where it was
    missed; the second pass blurs and writes.
    """
    rows = tracklets.to_pandas().sort_values(["frame_index", "tracklet_id"], kind="stable").reset_index(drop=True)
    anonymizer = Anonymizer(config)
    params = anonymizer.params
    workers = workers or os.cpu_count() or 1
    in_flight = 2 * workers + 2
    columns: dict[str, list] = {name: [] for name in schemas.CROPS_UNSPLIT.names}

    with ThreadPoolExecutor(workers, thread_name_prefix="crops") as pool:
        found: dict[int, np.ndarray] = {}
        carried: dict[int, np.ndarray] = {}
        if config.method == "face":
            def detect_one(position: int, crop: np.ndarray) -> tuple[int, np.ndarray]:
                return position, to_relative(anonymizer.find_faces(crop), crop.shape[1], crop.shape[0])

            jobs = ((detect_one, (position, crop)) for position, _, crop, _ in _crop_jobs(video_path, fps, rows, config))
            for position, faces in tqdm(_bounded_map(pool, jobs, in_flight), total=len(rows), leave=False,
                                        desc=f"faces {video_path.stem}", unit="crop", disable=not progress):
                found[position] = faces
            carried = carry_faces(rows, found, config.face_carry_s)

        def write_one(position: int, frame: video.Frame, crop: np.ndarray, box: tuple[int, ...]) -> dict:
            row = rows.loc[position]
            height, width = crop.shape[:2]
            faces = to_absolute(found[position], width, height) if position in found else None
            extra = to_absolute(carried[position], width, height) if position in carried else None
            blurred, info = anonymizer.anonymize(crop, faces, extra)
            sealed = anonymizer.seal(blurred)
            target = workspace.crop_dir(row.location, row.camera, row.tracklet_id) / crop_file_name(
                row.tracklet_id, row.camera, frame.index, anonymizer.extension)
            with atomic_path(target) as tmp:
                tmp.write_bytes(sealed.data)
            record = {**params, **info}
            if sealed.audit_score is not None:
                record["audit"] = {**record["audit"], "escalations": sealed.escalations}
            return {
                "crop_path": workspace.relative(target),
                **{name: row[name] for name in ("location", "camera", "tracklet_id", "video_id", "frame_index",
                                                "timestamp_s", "model")},
                "detection_id": None if pd.isna(row["detection_id"]) else int(row["detection_id"]),
                "score": None if pd.isna(row["score"]) else float(row["score"]),
                "interpolated": bool(row.get("interpolated", False)),
                **dict(zip(("x1", "y1", "x2", "y2"), box)),
                "timestamp": start_time + timedelta(seconds=frame.timestamp_s),
                "anonymization": json.dumps(record, sort_keys=True),
                "faces_found": info.get("faces_found"),
                "face_fallback": info.get("fallback"),
                "audit_passed": sealed.audit_passed,
                "audit_face_score": sealed.audit_score,
            }

        jobs = ((write_one, job) for job in _crop_jobs(video_path, fps, rows, config))
        for record in tqdm(_bounded_map(pool, jobs, in_flight), total=len(rows), leave=False,
                           desc=f"crops {video_path.stem}", unit="crop", disable=not progress):
            for name, value in record.items():
                columns[name].append(value)
    return schemas.table(schemas.CROPS_UNSPLIT, columns)


# ---------------------------------------------------------------------------------------------
# Whole videos: every person blurred in every frame


@dataclass
class VideoAnonymization:
    output: Path
    frames: int
    fps: float
    boxes_detected: int  # person boxes the detector found (in the sampled frames)
    boxes_blurred: int  # person regions blurred over all frames (detected, held and interpolated)
    tracks: int


def _dilate(box: np.ndarray, margin: float) -> np.ndarray:
    w, h = box[2] - box[0], box[3] - box[1]
    return np.array([box[0] - margin * w, box[1] - margin * h, box[2] + margin * w, box[3] + margin * h])


def video_person_boxes(frame_index: np.ndarray, timestamp: np.ndarray, xyxy: np.ndarray, frame_count: int,
                       fps: float, track_config: TrackConfig, hold_frames: int,
                       margin: float) -> tuple[dict[int, list[np.ndarray]], int]:
    """Per frame, the (dilated) person regions to blur: every detection in its own frame and held
    ``hold_frames`` frames to each side, plus, between two consecutive boxes of a track, the box
    interpolated for each frame in between. Returns the boxes and the number of tracks."""
    from cyclist_dataset.track import track

    boxes: dict[int, list[np.ndarray]] = {}

    def add(index: int, box: np.ndarray) -> None:
        if 0 <= index < frame_count:
            boxes.setdefault(index, []).append(_dilate(box, margin))

    for f, box in zip(frame_index, xyxy):
        for index in range(int(f) - hold_frames, int(f) + hold_frames + 1):
            add(index, box)
    result = track(timestamp, xyxy, track_config, frame_index) if len(xyxy) else []
    tracks = getattr(result, "tracklets", result)
    for tracklet in tracks:
        # Every box the track matched (stationary boxes it replaced in its rows included), in time order.
        rows = np.asarray(getattr(tracklet, "matched", tracklet.rows))
        rows = rows[np.argsort(timestamp[rows], kind="stable")]
        for a, b in zip(rows[:-1], rows[1:]):
            fa, fb = int(frame_index[a]), int(frame_index[b])
            for index in range(fa + 1, fb):
                w = (index - fa) / (fb - fa)
                add(index, (1 - w) * xyxy[a] + w * xyxy[b])
    return boxes, len(tracks)


def anonymize_video_file(input_path: Path, output_path: Path, config: AnonymizeConfig,
                         detect_config: DetectConfig, track_config: TrackConfig | None = None,
                         margin: float = 0.1, progress: bool = True) -> VideoAnonymization:
    """Write a copy of a video with every detected person blurred in every frame.

    Persons are detected in (sampled) frames; a track (the pipeline's tracker, every track kept)
    carries each person's box through the frames between its detections (linear interpolation),
    and each detection also covers the frames up to the next sampled one. Boxes are grown by
    ``margin`` of their size on each side and blurred as ``config.method`` says (``face``: faces
    and the head fallback, per frame). Written atomically: a temporary file, then a rename.
    """
    from cyclist_dataset import detect

    input_path, output_path = Path(input_path), Path(output_path)
    if input_path.resolve() == output_path.resolve():
        raise UserError(f"the output {output_path} must not be the input video")
    if output_path.suffix.lower() not in (".mp4", ".avi", ".mkv", ".mov"):
        raise UserError(f"output {output_path}: use a video file name ending in .mp4, .avi, .mkv or .mov")
    info = video.probe(input_path)
    detect_config = detect_config.model_copy(update={"classes": ("person",)})
    detector = detect.make_detector(detect_config)
    sample_fps = detect_config.sample_fps
    frames = video.frames(input_path, info.fps, sample_fps=sample_fps)
    expected = info.frame_count * min(1.0, (sample_fps or info.fps) / info.fps)
    table = detect.detect_frames(frames, detector, input_path.stem, detect_config, total=round(expected))
    persons = table.filter(pc.equal(table.column("class_name"), "person"))
    xyxy = np.stack([persons.column(c).to_numpy() for c in ("x1", "y1", "x2", "y2")], axis=1).reshape(-1, 4)
    frame_index = persons.column("frame_index").to_numpy()
    timestamp = persons.column("timestamp_s").to_numpy()
    hold = max(1, math.ceil(info.fps / sample_fps)) if sample_fps and sample_fps < info.fps else 1
    keep_all = {"min_pickup_s": 0.0, "require_bicycle": False, "min_boxes": 1}  # every track, however short
    track_config = track_config or TrackConfig()
    track_config = track_config.model_copy(update={k: v for k, v in keep_all.items() if k in TrackConfig.model_fields})
    boxes, n_tracks = video_person_boxes(frame_index, timestamp, xyxy.astype(float), info.frame_count, info.fps,
                                         track_config, hold, margin)

    anonymizer = Anonymizer(config.model_copy(update={"audit": config.audit.model_copy(update={"enabled": False})}))
    fourcc = cv2.VideoWriter_fourcc(*("mp4v" if output_path.suffix.lower() in (".mp4", ".mov") else "MJPG"))
    written = blurred_boxes = 0
    with atomic_path(output_path, suffix=f".tmp{output_path.suffix}") as tmp:
        writer = cv2.VideoWriter(str(tmp), fourcc, info.fps, (info.width, info.height))
        try:
            if not writer.isOpened():
                raise UserError(f"OpenCV cannot write a video to {output_path}")
            for frame in tqdm(video.frames(input_path, info.fps), total=info.frame_count,
                              desc=f"blur {input_path.name}", unit="frame", disable=not progress):
                image = frame.image
                for box in boxes.get(frame.index, []):
                    x1, y1, x2, y2 = clip_box(box, info.width, info.height)
                    if x2 - x1 < 2 or y2 - y1 < 2:
                        continue
                    image[y1:y2, x1:x2], _ = anonymizer.anonymize(np.ascontiguousarray(image[y1:y2, x1:x2]))
                    blurred_boxes += 1
                writer.write(image)
                written += 1
        finally:
            writer.release()
    return VideoAnonymization(output_path, written, info.fps, len(xyxy), blurred_boxes, n_tracks)
