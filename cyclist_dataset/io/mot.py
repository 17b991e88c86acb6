"""MOTChallenge text files: detections (det.txt), ground truth (gt.txt) and tracker output.

One line per box, comma-separated: ``frame, id, bb_left, bb_top, bb_width, bb_height, conf``
and up to three more columns (MOT15 and det files: world x, y, z, -1 when unused; MOT16/17/20
gt: class, visibility). Frames are 1-based; detections have id -1.

``read_mot`` gives a DataFrame: columns ``frame``, ``id`` (int64), ``x, y, w, h, conf`` and
``col8``..``col10`` when present (float64), indexed by line number (1-based, for messages).
Round trip: ``write_mot(read_mot(f))`` reads back to identical values, always. It is byte-identical
to ``f`` when ``f`` is written the way we write: comma-separated without spaces, one kind of line
end (LF or CRLF, we record which), a line end after the last line, no blank lines, each number in
its shortest round-trip form (no trailing zeros, an exponent only where Python's repr uses one),
and within a column integral values either always or never with a trailing ``.0`` (we record
which, per column). MOT17's and MOT15's (TUD) gt.txt, det.txt and results are written so.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from cyclist_dataset.errors import UserError

MOT_COLUMNS = ["frame", "id", "x", "y", "w", "h", "conf"]
EXTRA_COLUMNS = ["col8", "col9", "col10"]
_DOT_ZERO = "mot_dot_zero"  # DataFrame.attrs key: per column, integral values written as "1.0"
_NEWLINE = "mot_newline"  # DataFrame.attrs key: the file's line end ("\r\n" in MOT15's files)
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


def read_mot(path: Path | str) -> pd.DataFrame:
    """Read a MOTChallenge file; a malformed line raises UserError naming the file and line."""
    path = Path(path)
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise UserError(f"MOT file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: cannot read it as a text file: {exc}") from None
    values: list[list[float]] = []
    lines: list[int] = []
    n_columns = None
    dot_zero: list[bool] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        tokens = [token.strip() for token in line.split(",")]
        where = f"{path}:{number}"
        if n_columns is None:
            n_columns = len(tokens)
            if not 7 <= n_columns <= 10:
                raise UserError(
                    f"{where}: expected 7 to 10 comma-separated values "
                    f"(frame,id,x,y,w,h,conf[,x,y,z]), got {n_columns}: {line!r}"
                )
            dot_zero = [False] * n_columns
        elif len(tokens) != n_columns:
            raise UserError(
                f"{where}: {len(tokens)} values, but the file's first line has {n_columns}"
            )
        row = []
        for k, token in enumerate(tokens):
            if not _NUMBER.match(token):
                raise UserError(f"{where}: value {k + 1} ({token!r}) is not a finite number")
            value = float(token)
            if value.is_integer() and "." in token:
                dot_zero[k] = True
            row.append(value)
        if not row[0].is_integer() or row[0] < 1:
            raise UserError(
                f"{where}: frame {tokens[0]!r} is not a whole number >= 1 (frames are 1-based)"
            )
        if not row[1].is_integer():
            raise UserError(f"{where}: id {tokens[1]!r} is not a whole number")
        values.append(row)
        lines.append(number)
    if n_columns is None:
        raise UserError(f"{path}: no boxes in the file")
    array = np.asarray(values, dtype=float)
    names = (MOT_COLUMNS + EXTRA_COLUMNS)[:n_columns]
    frame = pd.DataFrame(array, columns=names, index=pd.Index(lines, name="line"))
    frame[["frame", "id"]] = frame[["frame", "id"]].astype(np.int64)
    frame.attrs[_DOT_ZERO] = tuple(dot_zero)
    frame.attrs[_NEWLINE] = "\r\n" if "\r\n" in text else "\n"
    return frame


def _format(value: float, dot_zero: bool) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return f"{int(value)}.0" if dot_zero else str(int(value))
    return repr(value)


def format_mot(frame: pd.DataFrame, canonical: bool = False) -> str:
    """The MOTChallenge text of ``frame`` (columns as ``read_mot`` gives them, 7 to 10 of them).

    Integral values and line ends are written as the file they were read from wrote them ("1" or
    "1.0", LF or CRLF), or, ``canonical``, always as "1" and LF.
    """
    names = [c for c in MOT_COLUMNS + EXTRA_COLUMNS if c in frame.columns]
    if names[:7] != MOT_COLUMNS or len(names) != len(frame.columns):
        raise ValueError(
            f"expected columns {MOT_COLUMNS} + up to {EXTRA_COLUMNS}, got {list(frame.columns)}"
        )
    dot_zero = (
        (False,) * len(names) if canonical else frame.attrs.get(_DOT_ZERO, (False,) * len(names))
    )
    columns = [frame[name].to_numpy(dtype=float).tolist() for name in names]
    if not all(math.isfinite(v) for column in columns for v in column):
        raise ValueError("MOT values must be finite")
    newline = "\n" if canonical else frame.attrs.get(_NEWLINE, "\n")
    return "".join(
        ",".join(_format(v, z) for v, z in zip(row, dot_zero, strict=False)) + newline
        for row in zip(*columns, strict=True)
    )


def write_mot(frame: pd.DataFrame, path: Path | str, canonical: bool = False) -> None:
    """Write ``frame`` as a MOTChallenge file (see ``format_mot``)."""
    Path(path).write_bytes(format_mot(frame, canonical).encode("utf-8"))


def mot_xyxy(rows: pd.DataFrame) -> np.ndarray:
    """(N, 4) x1, y1, x2, y2 of MOTChallenge rows (x, y, w, h: top-left corner and size)."""
    xywh = rows[["x", "y", "w", "h"]].to_numpy(dtype=float)
    return np.column_stack([xywh[:, :2], xywh[:, :2] + xywh[:, 2:]])


def tracks_frame(
    frame: np.ndarray, track_id: np.ndarray, xyxy: np.ndarray, conf: np.ndarray
) -> pd.DataFrame:
    """Tracker output rows (10 columns, world coordinates -1), sorted by frame and id."""
    xyxy = np.asarray(xyxy, dtype=float).reshape(-1, 4)
    out = pd.DataFrame(
        {
            "frame": np.asarray(frame, dtype=np.int64),
            "id": np.asarray(track_id, dtype=np.int64),
            "x": xyxy[:, 0],
            "y": xyxy[:, 1],
            "w": xyxy[:, 2] - xyxy[:, 0],
            "h": xyxy[:, 3] - xyxy[:, 1],
            "conf": np.asarray(conf, dtype=float),
            "col8": -1.0,
            "col9": -1.0,
            "col10": -1.0,
        }
    )
    return out.sort_values(["frame", "id"], kind="stable").reset_index(drop=True)
