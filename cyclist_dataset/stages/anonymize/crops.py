"""Anonymize stage: cut each tracklet box out of its frame, blur it, and only then write it.

A crop exists unblurred only in memory: it is blurred, encoded in memory, checked by the privacy
audit (face detectors at every scale on the encoded-and-decoded crop, ``audit``), blurred again
where a face is still found or nearly found, and written to a temporary file that is renamed into
place only if it passes with the audit's margin; a crop that cannot be made to pass is refused:
never written, its row says why. No unblurred pixel, and no crop in which the audit finds a face,
ever reaches the disk, so a crash at any point leaves only passing crops (and passing temporary
files).

Methods (``anonymize.method``):

- ``median`` (default), ``gaussian``, ``average``: OpenCV's filter over the whole crop, with a
  window of ``window_px`` at a crop height of ``reference_height_px`` (thesis: 5 px at 128 px)
  scaled with the crop and rounded up to odd, so every crop size is blurred alike; the head region
  (top ``head_fraction``) with a window ``head_blur_factor`` times as wide.
- ``face``: only faces are blurred (the thesis's "YoloFace" variant, which costs re-ID accuracy
  least). Faces are found in each crop by CenterFace (and optionally YuNet), grown by
  ``face_mask_scale`` and blurred with ``face_filter`` at a window of ``face_window_fraction`` of
  their height. A face box found in a neighbouring frame of the same tracklet (within
  ``face_carry_s``) is carried over to a frame where it was missed, and wherever no face was found
  in the head region (top ``head_fraction`` of the box) that whole region is blurred: privacy never
  depends on the detector's recall.

Crops are written in parallel threads (blur, face detection, audit, encode, write), in chunks of
``AUDIT_CHUNK`` whose audits share batches, with a bounded number in flight, so memory stays flat
however many crops a video gives.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
import pyarrow as pa

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import AnonymizeConfig
from cyclist_dataset.core.geometry import BOX_COLUMNS, clip_box, union_box
from cyclist_dataset.io import progress as progress_display
from cyclist_dataset.io import video
from cyclist_dataset.io.atomic import write_bytes
from cyclist_dataset.io.faults import kill_point
from cyclist_dataset.io.hashing import sha256_bytes
from cyclist_dataset.io.workspace import Workspace
from cyclist_dataset.stages.anonymize.audit import Auditor
from cyclist_dataset.stages.anonymize.blur import (
    blur,
    blur_region,
    blur_window,
    face_region,
    odd_window,
    to_absolute,
    to_relative,
)
from cyclist_dataset.stages.anonymize.faces import EMPTY, detect_faces, make_face_detector

# Crops audited together: their views share batches (a chunk of 8 keeps the pool's threads busy and
# memory flat; larger chunks were no faster).
AUDIT_CHUNK = 8


@dataclass
class Sealed:
    """A crop ready for the disk, or refused: its encoded bytes and what the audit said of them."""

    data: bytes | None  # None: refused (a face is still found after the last escalation)
    audit_score: float | None  # None: audit disabled
    audit_passed: bool | None
    escalations: int
    finding: str | None = None  # the highest-scoring face: detector, score/threshold, view
    refused: str | None = None  # why it was not written


class Anonymizer:
    """Blurs crops as an ``AnonymizeConfig`` says, encodes them and audits them; thread-safe."""

    def __init__(self, config: AnonymizeConfig) -> None:
        self.config = config
        self.face_detectors = (
            [make_face_detector(name, config.face_upscale_to_px) for name in config.face_detectors]
            if config.method == "face"
            else []
        )
        self.auditor = Auditor(config.audit) if config.audit.enabled else None
        self.extension = config.format
        self._encode = (
            [cv2.IMWRITE_JPEG_QUALITY, config.jpeg_quality]
            if config.format == "jpg"
            else [cv2.IMWRITE_PNG_COMPRESSION, 3]
        )

    @property
    def params(self) -> dict:
        """What decides the pixels of every crop (stored with each crop's manifest row)."""
        c = self.config
        params: dict = {
            "method": c.method,
            "reference": [c.window_px, c.reference_height_px],
            "crop": c.crop,
            "format": c.format,
        }
        if c.method != "face" and c.head_blur_factor != 1:
            params["head"] = {"fraction": c.head_fraction, "blur_factor": c.head_blur_factor}
        if c.format == "jpg":
            params["jpeg_quality"] = c.jpeg_quality
        if c.method == "face":
            params["face"] = {
                "filter": c.face_filter,
                "detectors": [d.identity for d in self.face_detectors],
                "threshold": c.face_threshold,
                "mask_scale": c.face_mask_scale,
                "window_fraction": c.face_window_fraction,
                "head_fraction": c.head_fraction,
                "carry_s": c.face_carry_s,
                "upscale_to_px": c.face_upscale_to_px,
            }
        if self.auditor is not None:
            params["audit"] = {
                **self.auditor.identity,
                "definition_id": self.auditor.definition_id,
                "escalate": c.audit.escalate,
                "escalation_filter": c.audit.escalation_filter,
                "max_escalations": c.audit.max_escalations,
            }
        return params

    def find_faces(self, crop: np.ndarray) -> np.ndarray:
        """Faces in a crop, (N, 5) in crop pixels (the union of the configured detectors)."""
        return detect_faces(self.face_detectors, crop, self.config.face_threshold)

    def _face_window(self, region_height: float, crop_window: int) -> int:
        return max(crop_window, odd_window(self.config.face_window_fraction * region_height))

    def anonymize(
        self, crop: np.ndarray, faces: np.ndarray | None = None, carried: np.ndarray | None = None
    ) -> tuple[np.ndarray, dict]:
        """The blurred crop and what was done. ``faces`` (crop pixels) skips detection; ``carried``:
        face boxes from neighbouring frames of the tracklet, blurred too when no face was found."""
        c = self.config
        height, width = crop.shape[:2]
        window = blur_window(height, c)
        if c.method != "face":
            if c.head_blur_factor == 1:
                return blur(crop, c.method, window), {"window_px": window}
            # The head region (where a face is) blurred harder; each part filtered once, seeing the
            # other part's pixels across their border.
            rows = math.ceil(c.head_fraction * height)
            head_window = odd_window(c.head_blur_factor * window)
            out = crop.copy()
            blur_region(out, (0, rows, width, height), c.method, window)
            head = crop.copy()
            blur_region(head, (0, 0, width, rows), c.method, head_window)
            out[:rows] = head[:rows]
            return out, {"window_px": window, "head_window_px": head_window}
        faces = self.find_faces(crop) if faces is None else faces
        out = crop.copy()
        regions = [face_region(face, c.face_mask_scale) for face in faces]
        used_carried = carried if carried is not None and len(faces) == 0 else EMPTY
        regions += [face_region(face, c.face_mask_scale) for face in used_carried]
        head_bottom = c.head_fraction * height
        # The fallback is skipped only if a face was found in the head region: a false face
        # elsewhere (a wheel, a sign) must not leave a missed real face unblurred.
        in_head = [f for f in faces if (f[1] + f[3]) / 2 <= head_bottom]
        fallback = not in_head
        if fallback:
            regions.append(np.array([0, 0, width, head_bottom]))
        windows = []
        for region in regions:
            box = clip_box(region, width, height)
            windows.append(self._face_window(box[3] - box[1], window))
            blur_region(out, box, c.face_filter, windows[-1])
        return out, {
            "window_px": window,
            "faces_found": int(len(faces)),
            "faces_carried": int(len(used_carried)),
            "fallback": bool(fallback),
            "face_windows_px": windows,
        }

    def encode(self, image: np.ndarray) -> bytes:
        ok, data = cv2.imencode(f".{self.extension}", image, self._encode)
        if not ok:
            raise RuntimeError(
                f"{self.extension} encoding failed for an image of shape {image.shape}"
            )
        return data.tobytes()

    def escalate(self, blurred: np.ndarray, faces: np.ndarray, round_: int) -> np.ndarray:
        """Blur the faces the audit found again; each round grows the boxes more and blurs harder
        (the last rounds flatten the face, never the rest of the person)."""
        blurred = blurred.copy()
        height, width = blurred.shape[:2]
        window = blur_window(height, self.config)
        scale = self.config.face_mask_scale * (1 + 0.25 * round_)
        fraction = min(1.0, self.config.face_window_fraction * (1 + round_))
        for face in faces:
            box = clip_box(face_region(face, scale), width, height)
            blur_region(
                blurred,
                box,
                self.config.audit.escalation_filter,
                max(window, odd_window(fraction * (box[3] - box[1]))),
            )
        return blurred

    def seal(self, blurred: np.ndarray) -> Sealed:
        return self.seal_many([blurred])[0]

    def seal_many(self, blurred: list[np.ndarray]) -> list[Sealed]:
        """Encode blurred crops and audit exactly what would be stored (all crops of a batch at
        once); where a face is found, or nearly (within a detector's rescaling margin), blur those
        faces again (up to ``max_escalations`` times); a crop still within the margin is
        refused."""
        blurred = list(blurred)  # escalations replace items: the caller's list stays as it was
        data = [self.encode(image) for image in blurred]
        if self.auditor is None:
            return [Sealed(d, None, None, 0) for d in data]
        audit = self.config.audit
        results = self.auditor.check_many([decode(d) for d in data], stop_when_near=True)
        rounds = [0] * len(data)
        failing = [i for i, result in enumerate(results) if not result.clear]
        round_ = 0
        while failing and audit.escalate and round_ < audit.max_escalations:
            round_ += 1
            for i in failing:
                blurred[i] = self.escalate(blurred[i], results[i].near_faces, round_)
                data[i], rounds[i] = self.encode(blurred[i]), round_
            for i, result in zip(
                failing,
                self.auditor.check_many([decode(data[i]) for i in failing], stop_when_near=True),
                strict=True,
            ):
                results[i] = result
            failing = [i for i in failing if not results[i].clear]
        sealed = []
        for d, result, escalations in zip(data, results, rounds, strict=True):
            finding = result.worst.describe() if result.worst is not None else None
            refused = (
                None
                if result.clear
                else (
                    f"a face is still found after {escalations} escalation(s): {finding}"
                    if not result.passed
                    else f"a face is still nearly found after {escalations} escalation(s) "
                    f"(within the rescaling margin): {finding}"
                )
            )
            sealed.append(
                Sealed(
                    None if refused else d,
                    float(result.score),
                    refused is None,
                    escalations,
                    finding,
                    refused,
                )
            )
        return sealed


def decode(data: bytes) -> np.ndarray:
    """An encoded crop as the disk will hold it (the audit checks exactly these pixels)."""
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if image is None:  # OpenCV decodes whatever it encoded; anything else is a bug
        raise RuntimeError(f"could not decode a {len(data)}-byte crop that was just encoded")
    return image


def anonymize_crop(crop: np.ndarray, config: AnonymizeConfig) -> tuple[np.ndarray, dict]:
    """One crop blurred as ``config`` says (no audit); returns the image and the parameters used."""
    anonymizer = Anonymizer(
        config.model_copy(update={"audit": config.audit.model_copy(update={"enabled": False})})
    )
    blurred, info = anonymizer.anonymize(crop)
    return blurred, {
        "method": config.method,
        "reference": [config.window_px, config.reference_height_px],
        **info,
    }


def crop_box(row, mode: str) -> np.ndarray:
    """The region to cut out: the rider's box, or (``rider_and_bicycle``) its union with the paired
    bicycle."""
    box = np.array([row.x1, row.y1, row.x2, row.y2], dtype=float)
    if mode == "rider_and_bicycle" and not pd.isna(row.bicycle_x1):
        box = union_box(
            box,
            np.array([row.bicycle_x1, row.bicycle_y1, row.bicycle_x2, row.bicycle_y2], dtype=float),
        )
    return box


def crop_file_name(tracklet_id: str, camera: str, frame_index: int, extension: str = "jpg") -> str:
    """Market-1501-like: identity (the tracklet, ``<video>_t<n>``: the video is the sequence),
    camera, frame; e.g. ``cam1-2020-02-20_t0003_cam1_f000123.jpg``."""
    return f"{tracklet_id}_{camera}_f{frame_index:06d}.{extension}"


def remove_video_crops(workspace: Workspace, location: str, camera: str, video_id: str) -> None:
    """Delete crop folders of an earlier run of this video, so a changed result leaves no stale
    crops."""
    root = workspace.camera_crop_root(location, camera)
    if not root.is_dir():
        return
    pattern = re.compile(rf"^{re.escape(video_id)}_t\d+$")
    for folder in root.iterdir():
        if folder.is_dir() and pattern.match(folder.name):
            shutil.rmtree(folder)


def _bounded_map(
    pool: ThreadPoolExecutor,
    jobs: Iterable[tuple[Callable[..., Any], tuple[Any, ...]]],
    in_flight: int,
) -> Iterator[Any]:
    """Submit jobs in order, at most ``in_flight`` pending; yield their results in submission
    order."""
    pending: deque[Future] = deque()
    for function, args in jobs:
        pending.append(pool.submit(function, *args))
        if len(pending) >= in_flight:
            yield pending.popleft().result()
    while pending:
        yield pending.popleft().result()


def _crop_jobs(
    video_path: Path, fps: float, rows: pd.DataFrame, config: AnonymizeConfig
) -> Iterator[tuple[int, video.Frame, np.ndarray, tuple[int, int, int, int]]]:
    """(row position, frame, crop pixels, crop box) for every row, in row order, frames streamed."""
    by_frame = {index: group for index, group in rows.groupby("frame_index", sort=True)}
    for frame in video.frames(video_path, fps, wanted=set(by_frame)):
        height, width = frame.image.shape[:2]
        for position, row in zip(
            by_frame[frame.index].index, by_frame[frame.index].itertuples(index=False), strict=True
        ):
            x1, y1, x2, y2 = clip_box(crop_box(row, config.crop), width, height)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            yield position, frame, frame.image[y1:y2, x1:x2], (x1, y1, x2, y2)


def carry_faces(
    rows: pd.DataFrame, found: dict[int, np.ndarray], carry_s: float
) -> dict[int, np.ndarray]:
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


def _chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _record(
    row: pd.Series,
    frame: video.Frame,
    box: tuple[int, int, int, int],
    params: dict,
    info: dict,
    sealed: Sealed,
    workspace: Workspace,
    target: Path,
    start_time: datetime,
) -> dict:
    """A crop's manifest row (``schemas.CROPS_UNSPLIT``)."""
    record = {**params, **info}
    if sealed.audit_score is not None:
        record["audit"] = {**record["audit"], "escalations": sealed.escalations}
    audit = params.get("audit")
    return {
        "crop_path": None if sealed.data is None else workspace.relative(target),
        "crop_sha256": None if sealed.data is None else sha256_bytes(sealed.data),
        **{
            name: row[name]
            for name in (
                "location",
                "camera",
                "tracklet_id",
                "video_id",
                "frame_index",
                "timestamp_s",
                "model",
            )
        },
        "detection_id": None if pd.isna(row["detection_id"]) else int(row["detection_id"]),
        "score": None if pd.isna(row["score"]) else float(row["score"]),
        "interpolated": bool(row.get("interpolated", False)),
        **dict(zip(BOX_COLUMNS, box, strict=True)),
        "timestamp": start_time + timedelta(seconds=frame.timestamp_s),
        "anonymization": json.dumps(record, sort_keys=True),
        "faces_found": info.get("faces_found"),
        "face_fallback": info.get("fallback"),
        "audit_passed": sealed.audit_passed,
        "audit_face_score": sealed.audit_score,
        "audit_definition": None if audit is None else audit["definition_id"],
        "audit_escalations": None if audit is None else sealed.escalations,
        "audit_finding": sealed.finding,
        "refused": sealed.refused,
    }


def write_crops(
    video_path: Path,
    fps: float,
    start_time: datetime,
    tracklets: pa.Table,
    workspace: Workspace,
    config: AnonymizeConfig,
    workers: int | None = None,
    progress: bool = True,
) -> pa.Table:
    """Write one anonymized image per tracklet row; return the crop rows (without split).

    ``face`` mode first finds the faces of every crop (a pass over the video that keeps only face
    boxes), so a face seen in a neighbouring frame of a tracklet can cover a frame where it was
    missed; the second pass blurs and writes.
    """
    rows = (
        tracklets.to_pandas()
        .sort_values(["frame_index", "tracklet_id"], kind="stable")
        .reset_index(drop=True)
    )
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
                return position, to_relative(
                    anonymizer.find_faces(crop), crop.shape[1], crop.shape[0]
                )

            jobs = (
                (detect_one, (position, crop))
                for position, _, crop, _ in _crop_jobs(video_path, fps, rows, config)
            )
            for position, faces in progress_display.iterate(
                _bounded_map(pool, jobs, in_flight),
                f"faces {video_path.stem}",
                total=len(rows),
                unit="crop",
                enabled=progress,
            ):
                found[position] = faces
            carried = carry_faces(rows, found, config.face_carry_s)

        def write_chunk(
            jobs: list[tuple[int, video.Frame, np.ndarray, tuple[int, int, int, int]]],
        ) -> list[dict]:
            """Blur, audit (the chunk's crops in one batch) and write; one record per crop."""
            blurred, infos = [], []
            for position, _, crop, _ in jobs:
                height, width = crop.shape[:2]
                faces = to_absolute(found[position], width, height) if position in found else None
                extra = (
                    to_absolute(carried[position], width, height) if position in carried else None
                )
                image, info = anonymizer.anonymize(crop, faces, extra)
                blurred.append(image)
                infos.append(info)
            records = []
            for (position, frame, _, box), info, sealed in zip(
                jobs, infos, anonymizer.seal_many(blurred), strict=True
            ):
                row = rows.loc[position]
                target = workspace.crop_dir(
                    row.location, row.camera, row.tracklet_id
                ) / crop_file_name(row.tracklet_id, row.camera, frame.index, anonymizer.extension)
                if sealed.data is not None:
                    write_bytes(target, sealed.data)
                records.append(
                    _record(row, frame, box, params, info, sealed, workspace, target, start_time)
                )
            return records

        chunks = _chunked(_crop_jobs(video_path, fps, rows, config), AUDIT_CHUNK)
        write_jobs: Iterator[tuple[Callable[..., Any], tuple[Any, ...]]] = (
            (write_chunk, (chunk,)) for chunk in chunks
        )
        with progress_display.task(
            f"crops {video_path.stem}", len(rows), "crop", enabled=progress
        ) as bar:
            for records in _bounded_map(pool, write_jobs, workers + 2):
                for record in records:
                    for name, value in record.items():
                        columns[name].append(value)
                    kill_point(f"anonymize.crop.{len(columns['crop_path'])}", record["video_id"])
                bar.update(len(records))
    return schemas.table(schemas.CROPS_UNSPLIT, columns)
