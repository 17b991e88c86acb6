"""The workspace's lock and its cleanup of what killed runs leave behind."""

from __future__ import annotations

import os

import pytest

from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import atomic_path, is_temporary
from cyclist_dataset.io.workspace import Workspace


def test_a_second_run_is_refused_and_told_who_holds_the_lock(tmp_path):
    workspace = Workspace(tmp_path / "ws")
    with workspace.locked():
        with pytest.raises(UserError, match=rf"process {os.getpid()}\) is using the workspace"):
            with workspace.locked():
                pass
    with workspace.locked():  # released with its holder
        pass


def test_the_lock_removes_only_the_temporaries_the_tool_wrote(tmp_path):
    root = tmp_path / "ws"
    ours = []
    for target in (root / "manifests" / "crops" / "v.parquet", root / "crops" / "a" / "x.jpg"):
        with pytest.raises(KeyboardInterrupt):  # a write interrupted midway
            with atomic_path(target) as tmp:
                tmp.write_bytes(b"half")
                ours.append(tmp)
                os.link(tmp, tmp.with_name(tmp.name + ".kept"))  # survives the context's cleanup
                raise KeyboardInterrupt
    ours = [p.with_name(p.name + ".kept").rename(p) for p in ours]
    users = [root / ".notes.tmp", root / "crops" / ".draft.tmp", root / "data.tmp"]
    for path in users:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("mine")
    assert all(is_temporary(p) for p in ours) and not any(is_temporary(p) for p in users)
    with Workspace(root).locked():
        assert not any(p.exists() for p in ours)
        assert all(p.read_text() == "mine" for p in users)
