"""torchreid's own readers of Market-1501 and MSMT17 folders, assertions included, so tests check
that exports parse exactly as torchreid would parse them (torchreid itself is not a dependency)."""

from __future__ import annotations

import glob
import os
import re
from pathlib import Path

MARKET_PATTERN = re.compile(r"([-\d]+)_c(\d)")  # torchreid.data.datasets.image.market1501


def market_process_dir(dir_path: Path) -> list[tuple[str, int, int]]:
    """torchreid's Market1501.process_dir (relabel=False), assertions included."""
    data = []
    for img_path in sorted(glob.glob(os.path.join(dir_path, "*.jpg"))):
        pid, camid = map(int, MARKET_PATTERN.search(img_path).groups())
        if pid == -1:
            continue  # junk images are just ignored
        assert 0 <= pid <= 1501  # pid == 0 means background
        assert 1 <= camid <= 6
        data.append((img_path, pid, camid - 1))
    return data


def msmt_process_dir(dir_path: Path, list_path: Path) -> list[tuple[str, int, int]]:
    """torchreid's MSMT17.process_dir."""
    data = []
    for img_info in list_path.read_text().splitlines(keepends=True):
        img_path, pid = img_info.split(" ")
        pid = int(pid)  # no need to relabel
        camid = int(img_path.split("_")[2]) - 1  # index starts from 0
        data.append((os.path.join(dir_path, img_path), pid, camid))
    return data
