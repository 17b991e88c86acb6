"""Why a part of the dataset can come out empty, and what to do about it: one text, said where the
emptiness shows (`run`'s summary, `release create`, and reading a release), because a training
loop fed an empty split fails far from the cause (torchreid: an ``IndexError``)."""

from __future__ import annotations

import pandas as pd

CAUSES = {
    "train": "no tracklet fell in the training part of any hour: the footage is shorter than the "
    "validation window plus the guard band, or lies inside the window (see the card's validation "
    "windows; [split] validation_start_minute, validation_minutes, guard_s). Record longer "
    "footage, or move the validation window, and run again",
    "validation": "no tracklet fell in the validation window of any hour, so there is nothing "
    "to label and no test data (see [split] validation_start_minute, validation_minutes, guard_s)",
}


def empty_parts(crops: pd.DataFrame) -> list[str]:
    """One warning per location without train or without validation crops (``crops``: the split
    manifest's ``location`` and ``split`` columns)."""
    warnings = []
    for location, rows in crops.groupby("location", sort=True):
        counts = rows["split"].value_counts()
        for part in ("train", "validation"):
            if counts.get(part, 0) == 0:
                warnings.append(
                    f"WARNING: location {location!r} contributes no {part} crops "
                    f"({counts.sum()} crops, all {counts.index[0]}): {CAUSES[part]}"
                )
    return warnings
