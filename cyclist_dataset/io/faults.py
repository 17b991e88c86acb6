"""Fault injection for the tests of crash safety: kill this process at a named point.

``CYCLIST_DATASET_KILL_ONCE=MARKER_DIR:VIDEO_ID:POINT`` sends SIGKILL to the process the first
time it reaches ``POINT`` for that video (a marker file in MARKER_DIR makes it once per test).
Points (``tests/e2e/test_faults.py`` runs each):

- ``<stage>``: the stage has computed its result, nothing of it is written yet (for the anonymize
  stage: every new crop is written, the result file is not);
- ``<stage>.side``: the stage's side tables are written, its result file is not (track);
- ``anonymize.cleared``: the video's earlier crops are removed, no new one is written yet;
- ``anonymize.crop.<n>``: the video's n-th new crop is written.

Unset (always, outside tests), every call is a dictionary lookup.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

KILL_ENV = "CYCLIST_DATASET_KILL_ONCE"


def kill_point(point: str, video_id: str) -> None:
    spec = os.environ.get(KILL_ENV)
    if not spec:
        return
    marker_dir, target_video, target_point = spec.rsplit(":", 2)
    if (video_id, point) != (target_video, target_point):
        return
    marker = Path(marker_dir) / f"killed-{target_video}-{target_point}"
    if marker.exists():
        return
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()
    os.kill(os.getpid(), signal.SIGKILL)
