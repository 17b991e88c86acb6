"""What a terminal shows: enough of one to read tqdm's output as a user sees it."""

from __future__ import annotations

import re


def screen(text: str) -> list[str]:
    """The rows a terminal shows after ``text`` (carriage return, newline, cursor up; other
    escape sequences dropped), blank rows left out."""
    rows: list[list[str]] = [[]]
    row = col = 0
    for token in re.findall(r"\x1b\[[0-9;?]*[A-Za-z]|\r|\n|.", text):
        if token == "\r":
            col = 0
        elif token == "\n":
            row, col = row + 1, 0
        elif token == "\x1b[A":
            row = max(0, row - 1)
        elif not token.startswith("\x1b"):
            rows += [[] for _ in range(row + 1 - len(rows))]
            rows[row] += [" "] * (col + 1 - len(rows[row]))
            rows[row][col] = token
            col += 1
    return [shown for shown in ("".join(r).rstrip() for r in rows) if shown]
