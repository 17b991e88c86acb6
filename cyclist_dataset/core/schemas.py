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

VIDEOS = pa.schema(
    [
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("camera", pa.string(), nullable=False),
        # asset name or path as given in the pipeline
        pa.field("source", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size_bytes", pa.int64(), nullable=False),
        pa.field("start_time", UTC_TIME, nullable=False),
        pa.field("fps", pa.float64(), nullable=False),
        pa.field("frame_count", pa.int64(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        pa.field("width", pa.int32(), nullable=False),
        pa.field("height", pa.int32(), nullable=False),
    ]
)

# The detect stage's raw output: every box of the configured classes above the detector's floor.
RAW_DETECTIONS = pa.schema(
    [
        *_FRAME,
        # row number within the video, stable across reruns
        pa.field("detection_id", pa.int64(), nullable=False),
        pa.field("class_name", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),
        *_BOX,
        pa.field("model", pa.string(), nullable=False),  # backend:file@sha256
        *_BICYCLE,
    ]
)

# manifests/detections: the raw boxes with the filter's verdict.
DETECTIONS = RAW_DETECTIONS.append(pa.field("kept", pa.bool_(), nullable=False)).append(
    # null when kept; else class | score | aspect_ratio | width | roi
    pa.field("drop_reason", pa.string())
)

# manifests/tracklets: one row per box of a tracklet, in time order: the detector's box and score,
# or (interpolated rows) a box filled in linearly for a frame the tracklet missed.
TRACKLETS = pa.schema(
    [
        # "<video_id>_t0001", unique in the workspace
        pa.field("tracklet_id", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("camera", pa.string(), nullable=False),
        *_FRAME,
        pa.field("detection_id", pa.int64()),  # null on interpolated rows
        pa.field("score", pa.float32()),  # null on interpolated rows
        *_BOX,
        pa.field("model", pa.string(), nullable=False),
        *_BICYCLE,
        pa.field("low_score", pa.bool_(), nullable=False),  # matched in the second, low-score pass
        pa.field("interpolated", pa.bool_(), nullable=False),  # box filled in, not detected
        # The Kalman filter's box right after this row's update (null on interpolated rows)
        pa.field("kf_x1", pa.float32()),
        pa.field("kf_y1", pa.float32()),
        pa.field("kf_x2", pa.float32()),
        pa.field("kf_y2", pa.float32()),
    ]
)

# manifests/tracklet_summary: one row per tracklet.
TRACKLET_SUMMARY = pa.schema(
    [
        pa.field("tracklet_id", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("location", pa.string(), nullable=False),
        pa.field("camera", pa.string(), nullable=False),
        pa.field("first_frame_index", pa.int64(), nullable=False),
        pa.field("last_frame_index", pa.int64(), nullable=False),
        pa.field("start_timestamp_s", pa.float64(), nullable=False),
        pa.field("end_timestamp_s", pa.float64(), nullable=False),
        pa.field("duration_s", pa.float64(), nullable=False),
        pa.field("n_boxes", pa.int64(), nullable=False),  # rows, interpolated ones included
        pa.field("n_interpolated", pa.int64(), nullable=False),
        pa.field("n_low_score", pa.int64(), nullable=False),
        pa.field("mean_score", pa.float64()),  # over the detected rows
        # detected rows whose rider was paired with a bicycle
        pa.field("bicycle_share", pa.float64()),
    ]
)

# stages/anonymize: one row per crop written (the split is added by the split stage).
_CROP_COLUMNS = [
    # relative to the workspace; null: refused by the privacy audit, never written (see `refused`)
    pa.field("crop_path", pa.string()),
    # SHA-256 of the image file's bytes: a rerun trusts a crop on disk only if it still has them
    pa.field("crop_sha256", pa.string()),
    pa.field("location", pa.string(), nullable=False),
    pa.field("camera", pa.string(), nullable=False),
    pa.field("tracklet_id", pa.string(), nullable=False),
    *_FRAME,
    pa.field("timestamp", UTC_TIME, nullable=False),  # recording time of the frame
    pa.field("detection_id", pa.int64()),  # null for a box the tracker interpolated
    pa.field("score", pa.float32()),  # null for a box the tracker interpolated
    # the tracklet's box was filled in by the tracker, not detected
    pa.field("interpolated", pa.bool_()),
    *_BOX,  # the region cut out: the rider's box, or its union with the bicycle's (anonymize.crop)
    pa.field("model", pa.string(), nullable=False),
    # JSON: method, window, crop mode, format; for `face`, the detectors (file and SHA-256) and
    # their parameters; the audit's detectors and thresholds, and how often the audit had to blur
    # again
    pa.field("anonymization", pa.string(), nullable=False),
    # faces the face detectors found in the crop (null unless method = face)
    pa.field("faces_found", pa.int32()),
    # head region blurred: no face found there (null unless method = face)
    pa.field("face_fallback", pa.bool_()),
    # The privacy audit of the crop as written (null when anonymize.audit.enabled = false):
    # false: a face detector still finds a face after the last escalation: the crop was refused
    # (not written) and the split stage drops its row
    pa.field("audit_passed", pa.bool_()),
    # highest face score / its detector's threshold (>= 1 fails)
    pa.field("audit_face_score", pa.float32()),
    # the audit's definition (detectors, thresholds, views; `Auditor.definition_id`): the release
    # gate takes a verdict only under the current definition
    pa.field("audit_definition", pa.string()),
    # how often the audit blurred found faces again before the crop passed (or was refused)
    pa.field("audit_escalations", pa.int32()),
    # the highest-scoring face: "detector score/threshold region xscale interpolation"
    pa.field("audit_finding", pa.string()),
    # why the crop was not written (null: written)
    pa.field("refused", pa.string()),
]
CROPS_UNSPLIT = pa.schema(_CROP_COLUMNS)
# train | validation
CROPS = pa.schema([*_CROP_COLUMNS, pa.field("split", pa.string(), nullable=False)])


def table(schema: pa.Schema, columns: Mapping[str, object]) -> pa.Table:
    """A table of exactly ``schema``'s columns; raises KeyError/ArrowInvalid on a mismatch."""
    extra = set(columns) - set(schema.names)
    if extra:
        raise KeyError(f"columns not in the schema: {sorted(extra)}")
    return pa.table(
        {name: _array(columns[name], schema.field(name).type) for name in schema.names},
        schema=schema,
    )


def _array(values: object, type_: pa.DataType) -> pa.Array | pa.ChunkedArray:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(type_)
    return pa.array(values, type=type_)


def from_pandas(schema: pa.Schema, frame) -> pa.Table:
    return pa.Table.from_pandas(frame[schema.names], schema=schema, preserve_index=False)


# labels/vNNNN/labels.parquet: the annotators' cross-camera identities, one row per labelled
# validation tracklet (a tracklet absent here stays in the test data as an unlabelled distractor).
# labels/vNNNN/labels.parquet: one row per labelled unit, a tracklet or a part of one (a tracklet
# split where the tracker switched people), anchored to the footage (video, frames, span, crops).
LABELS = pa.schema(
    [
        pa.field("location", pa.string(), nullable=False),
        pa.field("camera", pa.string(), nullable=False),
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("tracklet_id", pa.string(), nullable=False),
        # the unit's frames within its tracklet (inclusive): the whole tracklet, or one part
        pa.field("first_frame", pa.int64(), nullable=False),
        pa.field("last_frame", pa.int64(), nullable=False),
        pa.field("start", UTC_TIME, nullable=False),
        pa.field("end", UTC_TIME, nullable=False),
        pa.field("n_crops", pa.int64(), nullable=False),
        # person (has an identity) | junk (not a person: left out of the test data) | unsure (left
        # out: it may be a true match) | unlabelled (a part of a split tracklet, no label yet)
        pa.field("status", pa.string(), nullable=False),
        # the annotators' name, unique within a location; null unless status is person
        pa.field("identity", pa.string()),
        # a hash of the unit's crops (video, frame, box) when labelled
        pa.field("fingerprint", pa.string(), nullable=False),
        # the version that made this label, and where it came from ("labels.csv:12", "app:ana")
        pa.field("label_version", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
    ]
)

# labels/vNNNN/anchors.parquet: the boxes of every labelled unit when it was labelled, so that a
# label can be carried to the tracklets of a rerun (which renumbers and reshapes tracklets).
LABEL_ANCHORS = pa.schema(
    [
        pa.field("tracklet_id", pa.string(), nullable=False),
        pa.field("first_frame", pa.int64(), nullable=False),  # the unit, with tracklet_id
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("frame_index", pa.int64(), nullable=False),
        *_BOX,
    ]
)

# releases/NAME/{train,test,query,gallery}.parquet: one row per crop of a released split.
# The pid of an unlabelled test tracklet (a distractor: in the gallery, never a query's match).
DISTRACTOR_PID = 0
RELEASE_SPLIT = pa.schema(
    [
        pa.field("image", pa.string(), nullable=False),  # relative to the release folder
        pa.field("split", pa.string(), nullable=False),  # train | test | query | gallery
        # train: 0..N-1, one per tracklet (per-camera identities, as in the thesis);
        # test, query, gallery: 1..M, one per labelled cross-camera identity; 0 = unlabelled
        # distractor
        pa.field("pid", pa.int64(), nullable=False),
        # 0-based over the release's (location, camera) pairs
        pa.field("camid", pa.int32(), nullable=False),
        # train: the tracklet id; test: "<location>/<label>"; null: unlabelled
        pa.field("identity", pa.string()),
        pa.field("location", pa.string(), nullable=False),
        pa.field("camera", pa.string(), nullable=False),
        # a part of a tracklet the annotators split (an identity switch): "<tracklet>@<first frame>"
        pa.field("tracklet_id", pa.string(), nullable=False),
        *_FRAME,
        pa.field("timestamp", UTC_TIME, nullable=False),
        pa.field("score", pa.float32()),
        *_BOX,
        pa.field("model", pa.string(), nullable=False),
        pa.field("anonymization", pa.string(), nullable=False),
        # where it came from, relative to the workspace
        pa.field("crop_path", pa.string(), nullable=False),
    ]
)
