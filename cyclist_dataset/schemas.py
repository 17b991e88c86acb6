"""Every Parquet table the pipeline writes, defined once.

Stage functions build tables with ``table(SCHEMA, columns)`` so a missing or mistyped column
fails where it is made, not when somebody reads the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping

import pyarrow as pa

UTC_TIME = pa.timestamp("us", tz="UTC")

_BOX = [
    pa.field("x1", pa.float32(), nullable=False),
    pa.field("y1", pa.float32(), nullable=False),
    pa.field("x2", pa.float32(), nullable=False),
    pa.field("y2", pa.float32(), nullable=False),
]
# A rider's paired bicycle in the same frame (null when none was paired).
_BICYCLE = [
    pa.field("bicycle_detection_id", pa.int64()),
    pa.field("bicycle_score", pa.float32()),
    pa.field("bicycle_x1", pa.float32()),
    pa.field("bicycle_y1", pa.float32()),
    pa.field("bicycle_x2", pa.float32()),
    pa.field("bicycle_y2", pa.float32()),
]
_FRAME = [
    pa.field("video_id", pa.string(), nullable=False),
    pa.field("frame_index", pa.int64(), nullable=False),
    pa.field("timestamp_s", pa.float64(), nullable=False),  # seconds since the video's first frame
]

VIDEOS = pa.schema([
    pa.field("video_id", pa.string(), nullable=False),
    pa.field("location", pa.string(), nullable=False),
    pa.field("camera", pa.string(), nullable=False),
    pa.field("source", pa.string(), nullable=False),  # asset name or path as given in the pipeline
    pa.field("path", pa.string(), nullable=False),
    pa.field("sha256", pa.string(), nullable=False),
    pa.field("size_bytes", pa.int64(), nullable=False),
    pa.field("start_time", UTC_TIME, nullable=False),
    pa.field("fps", pa.float64(), nullable=False),
    pa.field("frame_count", pa.int64(), nullable=False),
    pa.field("duration_s", pa.float64(), nullable=False),
    pa.field("width", pa.int32(), nullable=False),
    pa.field("height", pa.int32(), nullable=False),
])

# The detect stage's raw output: every box of the configured classes above the detector's floor.
RAW_DETECTIONS = pa.schema([
    *_FRAME,
    pa.field("detection_id", pa.int64(), nullable=False),  # row number within the video, stable across reruns
    pa.field("class_name", pa.string(), nullable=False),
    pa.field("score", pa.float32(), nullable=False),
    *_BOX,
    pa.field("model", pa.string(), nullable=False),  # backend:file@sha256
    *_BICYCLE,
])

# manifests/detections: the raw boxes with the filter's verdict.
DETECTIONS = RAW_DETECTIONS.append(pa.field("kept", pa.bool_(), nullable=False)).append(
    pa.field("drop_reason", pa.string())  # null when kept; else class | score | aspect_ratio | width | roi
)

# manifests/tracklets: one row per box of a tracklet.
TRACKLETS = pa.schema([
    pa.field("tracklet_id", pa.string(), nullable=False),  # "<video_id>_t0001", unique in the workspace
    pa.field("location", pa.string(), nullable=False),
    pa.field("camera", pa.string(), nullable=False),
    *_FRAME,
    pa.field("detection_id", pa.int64(), nullable=False),
    pa.field("score", pa.float32(), nullable=False),
    *_BOX,
    pa.field("model", pa.string(), nullable=False),
    *_BICYCLE,
])

# stages/anonymize: one row per crop written (the split is added by the split stage).
_CROP_COLUMNS = [
    pa.field("crop_path", pa.string(), nullable=False),  # relative to the workspace
    pa.field("location", pa.string(), nullable=False),
    pa.field("camera", pa.string(), nullable=False),
    pa.field("tracklet_id", pa.string(), nullable=False),
    *_FRAME,
    pa.field("timestamp", UTC_TIME, nullable=False),  # recording time of the frame
    pa.field("detection_id", pa.int64(), nullable=False),
    pa.field("score", pa.float32(), nullable=False),
    *_BOX,  # the region cut out: the rider's box, or its union with the bicycle's (anonymize.crop)
    pa.field("model", pa.string(), nullable=False),
    pa.field("anonymization", pa.string(), nullable=False),  # JSON: method and parameters
]
CROPS_UNSPLIT = pa.schema(_CROP_COLUMNS)
CROPS = pa.schema([*_CROP_COLUMNS, pa.field("split", pa.string(), nullable=False)])  # train | validation


def table(schema: pa.Schema, columns: Mapping[str, object]) -> pa.Table:
    """A table of exactly ``schema``'s columns; raises KeyError/ArrowInvalid on a mismatch."""
    extra = set(columns) - set(schema.names)
    if extra:
        raise KeyError(f"columns not in the schema: {sorted(extra)}")
    return pa.table({name: _array(columns[name], schema.field(name).type) for name in schema.names}, schema=schema)


def _array(values: object, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(type_)
    return pa.array(values, type=type_)


def from_pandas(schema: pa.Schema, frame) -> pa.Table:
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)
