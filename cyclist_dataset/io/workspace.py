"""Where everything lives in a workspace, and how results are written there.

Layout (one helper builds every path)::

    WORKSPACE/
      manifests/{videos,detections,tracklets,tracklet_summary,crops}/<video_id>.parquet
                                                                         # public manifests
      stages/{detect,anonymize}/<video_id>.parquet                       # intermediate results
      crops/<location>/<camera>/<tracklet_id>/<file>.jpg
      report/index.html                                                  # the run report

Each stage result is one Parquet file per video, written atomically (temporary file in the
same folder, then rename) with a fingerprint of its inputs and parameters in the file's
metadata. A rerun trusts a file only if its fingerprint matches, so an interrupted run can
leave nothing half-written that a rerun would keep.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import atomic_path, is_temporary

FINGERPRINT_KEY = b"cyclist_dataset.fingerprint"
PARAMS_KEY = b"cyclist_dataset.params"
# Seconds a stage's computation took, stored with its parameters (never in the fingerprint: it
# differs every run) so that the run report shows it also when a rerun skips the stage.
COMPUTE_SECONDS = "compute_s"
LOCK_NAME = ".lock"

# Where each stage's per-video result goes: the public manifests and two intermediates.
STAGE_OUTPUT = {
    "ingest": "manifests/videos",
    "detect": "stages/detect",
    "filter": "manifests/detections",
    "track": "manifests/tracklets",
    "anonymize": "stages/anonymize",
    "split": "manifests/crops",
}
SIDE_OUTPUT = {"track": "manifests/tracklet_summary"}


class Workspace:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @staticmethod
    def is_workspace(folder: Path) -> bool:
        """Whether a folder is a workspace some run has used (its manifests and its lock)."""
        return (folder / "manifests").is_dir() and (folder / LOCK_NAME).exists()

    def stage_folder(self, stage: str) -> Path:
        """The folder of a stage's results, one Parquet file per video."""
        return self.root / STAGE_OUTPUT[stage]

    def stage_output(self, stage: str, video_id: str) -> Path:
        return self.stage_folder(stage) / f"{video_id}.parquet"

    def side_output(self, stage: str, video_id: str) -> Path:
        """A second table a stage writes per video (before its main result, which marks
        completion)."""
        return self.root / SIDE_OUTPUT[stage] / f"{video_id}.parquet"

    def manifest(self, name: str) -> Path:
        return self.root / "manifests" / name

    def report_folder(self) -> Path:
        """The run report `run` writes: index.html and the ROI overlays beside it."""
        return self.root / "report"

    def location_file(self, location: str) -> Path:
        """The location's settings as the last run's pipeline file gave them (cameras, overlapping
        views, travel times): what the labelling side reads, having no pipeline file."""
        return self.root / "locations" / f"{location}.json"

    def crop_dir(self, location: str, camera: str, tracklet_id: str) -> Path:
        return self.root / "crops" / location / camera / tracklet_id

    def camera_crop_root(self, location: str, camera: str) -> Path:
        return self.root / "crops" / location / camera

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the workspace for one run; temporaries left by a killed run are removed first."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            lock_file = open(self.root / LOCK_NAME, "a+")  # closed by the with below
        except OSError as exc:
            raise UserError(
                f"cannot write to the workspace {self.root} ({exc.strerror}); check its "
                "permissions, or give a writable --workspace"
            ) from None
        # The kernel releases a flock when its holder dies, so a lock is never stale; the pid inside
        # only tells a refused run who holds it.
        with lock_file as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "?"
                raise UserError(
                    f"another cyclist-dataset run (process {holder}) is using the workspace "
                    f"{self.root}; wait for it to finish or use another --workspace"
                ) from None
            lock.seek(0)
            lock.truncate()
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            for stale in self.root.rglob(".*"):
                if stale.is_file() and is_temporary(stale):
                    stale.unlink(missing_ok=True)
            yield


def write_result(table: pa.Table, target: Path, fingerprint_: str, params: object) -> None:
    metadata = dict(table.schema.metadata or {})
    metadata[FINGERPRINT_KEY] = fingerprint_.encode()
    metadata[PARAMS_KEY] = json.dumps(params, sort_keys=True, default=str).encode()
    with atomic_path(target) as tmp:
        pq.write_table(table.replace_schema_metadata(metadata), tmp)


def read_fingerprint(path: Path) -> str | None:
    """The fingerprint a finished result was written with, or None if absent or unreadable."""
    try:
        metadata = pq.read_schema(path).metadata or {}
    except (OSError, pa.ArrowInvalid):
        return None
    value = metadata.get(FINGERPRINT_KEY)
    return value.decode() if value else None


def read_params(path: Path) -> dict:
    """The parameters a result was written with (its stage's settings and extra metadata)."""
    return json.loads((pq.read_schema(path).metadata or {}).get(PARAMS_KEY, b"{}"))


def read_result(path: Path) -> pa.Table:
    return pq.read_table(path)
