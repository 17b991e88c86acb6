"""An annotator's draft: every action of the labelling app, saved as it happens.

``WORKSPACE/labels/drafts/<location>/<annotator>.jsonl`` is an append-only log, one JSON event a
line, flushed and fsync'ed before the app answers: a server killed at any moment loses at most the
action it had not yet confirmed (a torn last line is dropped when the draft is next opened).

Events hold *records*, one per tracklet: its parts (frames, status, identity) and the boxes of
its crops (the anchor for carrying the labels over after a rerun).

- ``set``: these tracklets now have these records;
- ``undo``: take back the latest ``set`` not yet taken back;
- ``reset``: the draft is these records (after its labels were carried to a rerun's tracklets);
- ``committed``: the draft became label version ``version``; it starts empty again.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from cyclist_dataset.dataset.labels.units import PERSON
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import write_text

ANNOTATOR_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
DRAFTS_DIR = "labels/drafts"


def check_annotator(name: str) -> None:
    """An annotator's name names a file: letters, digits, _ . - only."""
    if not ANNOTATOR_RE.match(name):
        raise UserError(
            f"annotator name {name!r}: use letters, digits, _ . - (up to 64 characters), e.g. "
            "--annotator ana"
        )


class Draft:
    def __init__(self, root: Path, location: str, annotator: str) -> None:
        check_annotator(annotator)
        self.annotator = annotator
        self.path = Path(root) / DRAFTS_DIR / location / f"{annotator}.jsonl"
        self.events: list[dict] = []
        self.dropped_torn_line = False
        if self.path.is_file():
            self._load()

    def _load(self) -> None:
        lines = self.path.read_text(encoding="utf-8").split("\n")
        complete, torn = lines[:-1], lines[-1]  # a complete file ends with a newline
        for number, line in enumerate(complete, 1):
            if not line.strip():
                continue
            try:
                self.events.append(json.loads(line))
            except json.JSONDecodeError:
                raise UserError(
                    f"{self.path}:{number}: not a draft event; the draft is damaged (move it away "
                    "to start a new draft)"
                ) from None
        if torn.strip():  # the server was killed while writing: that action was never confirmed
            self.dropped_torn_line = True
            write_text(self.path, "".join(json.dumps(e) + "\n" for e in self.events))

    def hold(self) -> IO[str]:
        """Hold the draft for one labelling server (close the returned file to let go): a second
        server on it would interleave its actions. The kernel drops the lock when the server
        dies, so it is never stale."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = open(self.path.with_suffix(".lock"), "a+")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise UserError(
                f"a labelling server for {self.annotator!r} is already running on this location "
                f"(its draft {self.path} is in use); open its URL, stop it first, or start with "
                "another --annotator"
            ) from None
        return lock

    def append(self, event: dict) -> None:
        event = {**event, "at": datetime.now(UTC).isoformat(timespec="milliseconds")}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(event, sort_keys=True) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.events.append(event)

    def records(self) -> dict[str, dict]:
        """The draft's record of each tracklet it touched, after replaying every event."""
        return _records(*_replay(self.events))

    def carry_report(self) -> dict:
        """The report of the latest carry of this draft's records (a ``reset``), unless a commit
        came after it."""
        reset, _ = _replay(self.events)
        return reset.get("report", {}) if reset else {}

    def can_undo(self) -> bool:
        return bool(_replay(self.events)[1])

    def last_action(self) -> str | None:
        """What the latest event that undo would take back did, for the app to say."""
        _, live = _replay(self.events)
        return live[-1].get("action", "an action") if live else None


def _replay(events: list[dict]) -> tuple[dict | None, list[dict]]:
    """What makes a draft's state: its latest ``reset`` since the last commit (None: none), and
    the ``set`` events after it that are not undone, oldest first."""
    reset: dict | None = None
    live: list[dict] = []
    for event in events:
        op = event.get("op")
        if op == "set":
            live.append(event)
        elif op == "undo" and live:
            live.pop()
        elif op == "reset":
            reset, live = event, []
        elif op == "committed":
            reset, live = None, []
    return reset, live


def _records(reset: dict | None, live: list[dict]) -> dict[str, dict]:
    state = {r["tracklet_id"]: r for r in (reset or {}).get("records", [])}
    for event in live:
        for record in event.get("records", []):
            state[record["tracklet_id"]] = record
    return state


def draft_identities(path: Path) -> set[str]:
    """The identities another annotator's draft gives, read without touching the file (a torn
    last line, or a damaged draft, is simply not read)."""
    try:
        lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    except OSError:
        return set()
    events = []
    for line in lines:
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict):
            events.append(event)
    return {
        str(part["identity"])
        for record in _records(*_replay(events)).values()
        for part in record.get("parts", [])
        if part.get("status") == PERSON and part.get("identity")
    }
