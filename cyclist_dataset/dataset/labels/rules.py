"""What makes a set of labels impossible, checked in one place for `labels import` and the app.

Identities form one graph per location: every unit labelled with an identity is one sighting of
that person. A person cannot be at two locations, nor at two cameras at overlapping times (unless
the location's cameras watch the same place), nor twice in one camera at overlapping times
(beyond a tracker's handover, ``HANDOVER_S``); and
two names that differ only in case are almost surely one person typed twice.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import pandas as pd

from cyclist_dataset.dataset.labels.units import PERSON

# One camera: a tracker handing a person over from one track to the next may start the new track
# a sample before the old one ends (multicam_lab cam2: 0.5 s at 2 fps). Longer overlaps are two
# people, or one person tracked twice.
HANDOVER_S = 1.0


@dataclass(frozen=True)
class Problem:
    line: int  # where a file row is concerned: its line (0: none), for ordering messages
    units: tuple[str, ...]  # the unit keys concerned ("<tracklet>@<first frame>")
    message: str


def problems(units: pd.DataFrame, overlapping_views: dict[str, bool]) -> list[Problem]:
    """Every impossible label among ``units`` (columns of ``schemas.LABELS`` plus ``where``, where
    the row was given: "labels.csv:7", "v0003", or "" in the app; ``line``; and optionally
    ``unit``, how to name it). ``overlapping_views``: per location."""
    people = units[(units["status"] == PERSON) & units["identity"].notna()]
    found: list[Problem] = []
    found += _case_clashes(people)
    for identity, members in people.groupby("identity", sort=True):
        rows = list(members.itertuples(index=False))
        found += _two_locations(str(identity), rows)
        for i, a in enumerate(rows):
            for b in rows[:i]:
                if a.location != b.location or not (a.start <= b.end and b.start <= a.end):
                    continue
                if a.camera == b.camera:
                    overlap = (min(a.end, b.end) - max(a.start, b.start)).total_seconds()
                    if overlap <= HANDOVER_S:
                        continue
                    found.append(
                        _pair(
                            a,
                            b,
                            f"identity {identity!r} is twice at {a.camera}, in {_name(a)} and in "
                            f"{_name(b, True)}, for {overlap:.1f} s at once; one person is one "
                            "track (if "
                            "the tracker followed one person twice, mark one unsure; if it "
                            "switched people, split the tracklet)",
                        )
                    )
                elif not overlapping_views.get(a.location, False):
                    found.append(
                        _pair(
                            a,
                            b,
                            f"identity {identity!r} is at {a.camera} ({_name(a)}) and at "
                            f"{b.camera} ({_name(b, True)}) at overlapping times; one person "
                            "cannot be at two cameras at once (if these cameras watch the same "
                            "place, set overlapping_views = true in the pipeline file's "
                            "[location] and rerun it)",
                        )
                    )
    return sorted(found, key=lambda p: p.line)


def _key(row) -> str:
    return f"{row.tracklet_id}@{row.first_frame}"


def _name(row, with_where: bool = False) -> str:
    """A unit in a message: its tracklet (and frames, for a part), and where it was given."""
    unit = getattr(row, "unit", None)
    name = unit if isinstance(unit, str) and unit else row.tracklet_id
    return f"{name}, {row.where}" if with_where and row.where else name


def _pair(a, b, what: str) -> Problem:
    return Problem(
        max(a.line, b.line), (_key(a), _key(b)), f"{a.where}: {what}" if a.where else what
    )


def _two_locations(identity: str, rows: list) -> list[Problem]:
    first: dict[str, Any] = {}
    found = []
    for row in rows:
        if first and row.location not in first:
            other = next(iter(first.values()))
            found.append(
                _pair(
                    row,
                    other,
                    f"identity {identity!r} is at location {row.location!r} and at "
                    f"{other.location!r} ({_name(other, True)}); one identity is one person at "
                    "one location: use another name",
                )
            )
        first.setdefault(row.location, row)
    return found


def _case_clashes(people: pd.DataFrame) -> list[Problem]:
    """Identities of one location that differ only in case ("P1" beside "p1")."""
    found = []
    spellings: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
    for row in people.itertuples(index=False):
        spellings[(row.location, row.identity.casefold())].setdefault(row.identity, row)
    for (location, _), names in sorted(spellings.items()):
        if len(names) < 2:
            continue
        rows = sorted(names.values(), key=lambda r: -r.line)
        first, others = rows[0], rows[1:]
        listed = " and ".join(f"{r.identity!r} ({r.where or _name(r)})" for r in others)
        found.append(
            Problem(
                first.line,
                tuple(_key(r) for r in rows),
                (f"{first.where}: " if first.where else "")
                + f"identities {first.identity!r} and {listed} at {location} differ only in "
                "case; one person, one spelling (or give two people clearly different names)",
            )
        )
    return found
