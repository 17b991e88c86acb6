"""The split stage: thesis rule, whole tracklets, the guard band around boundaries, the privacy
gate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pydantic import ValidationError

from cyclist_dataset.core import schemas
from cyclist_dataset.core.config import SplitConfig
from cyclist_dataset.stages.split import split_crops


def crops_at(rows: list[tuple[str, datetime]], audit: list[bool | None] | None = None) -> pa.Table:
    """Anonymize-stage rows: (tracklet, UTC time) per crop, optionally with the audit's verdicts."""
    n = len(rows)
    columns = {
        "crop_path": [f"c{i}.jpg" for i in range(n)],
        "location": ["l"] * n,
        "camera": ["c"] * n,
        "tracklet_id": [t for t, _ in rows],
        "video_id": ["v"] * n,
        "frame_index": list(range(n)),
        "timestamp_s": [0.0] * n,
        "timestamp": [ts for _, ts in rows],
        "detection_id": list(range(n)),
        "score": [0.9] * n,
        "x1": [0.0] * n,
        "y1": [0.0] * n,
        "x2": [1.0] * n,
        "y2": [1.0] * n,
        "model": ["m"] * n,
        "anonymization": ["{}"] * n,
        "interpolated": [False] * n,
    }
    table = schemas.table(
        schemas.CROPS_UNSPLIT,
        {k: v for k, v in columns.items() if k in schemas.CROPS_UNSPLIT.names}
        | {k: [None] * n for k in schemas.CROPS_UNSPLIT.names if k not in columns},
    )
    # Without verdicts: rows as an anonymize stage without the privacy audit writes them (no audit
    # columns).
    table = table.drop_columns(
        [c for c in ("audit_passed", "audit_face_score") if c in table.column_names]
    )
    if audit is not None:
        table = table.append_column("audit_passed", pa.array(audit, pa.bool_()))
    return table


def span(name: str, start: datetime, seconds: float) -> list[tuple[str, datetime]]:
    """A tracklet with a crop at start and one at start + seconds."""
    return [(name, start), (name, start + timedelta(seconds=seconds))]


def parts(table: pa.Table) -> dict[str, str]:
    frame = table.to_pandas()
    assert (frame.groupby("tracklet_id")["split"].nunique() == 1).all()  # never cut
    return frame.groupby("tracklet_id")["split"].first().to_dict()


# Berlin (CET, UTC+1): local 13:50:00 is 12:50:00 UTC; validation is 13:50-14:00 local.
H = datetime(2020, 2, 20, 12, 0, tzinfo=UTC)  # 13:00 local


def test_guard_band_drops_exactly_the_tracklets_near_a_boundary():
    b = H + timedelta(minutes=50)  # the boundary train -> validation, 13:50:00 local
    e = H + timedelta(hours=1)  # validation -> train, 14:00:00 local
    table = crops_at(
        [
            *span("far_train", H + timedelta(minutes=20), 10),
            # last crop 30.5 s before: kept
            *span("ends_30.5s_before", b - timedelta(seconds=40.5), 10),
            *span("ends_29.5s_before", b - timedelta(seconds=39.5), 10),  # 29.5 s before: dropped
            *span("spans", b - timedelta(seconds=5), 10),  # crosses it: dropped
            *span("starts_29.5s_after", b + timedelta(seconds=29.5), 10),  # dropped
            *span("starts_30.5s_after", b + timedelta(seconds=30.5), 10),  # kept, validation
            # 13:50:31-13:58:51, 69 s before e: kept
            *span("long_but_clear", b + timedelta(seconds=31), 500),
            *span("near_the_end", e - timedelta(seconds=20), 5),  # 14:00 is a boundary too: dropped
            *span("after_the_end", e + timedelta(seconds=31), 5),  # kept, train of the next hour
        ]
    )
    table, extra = split_crops(table, SplitConfig(), "Europe/Berlin")
    assert parts(table) == {
        "far_train": "train",
        "ends_30.5s_before": "train",
        "starts_30.5s_after": "validation",
        "long_but_clear": "validation",
        "after_the_end": "train",
    }
    stats = extra["split_stats"]
    assert stats["guard_band_tracklets"] == 4 and stats["guard_band_crops"] == 8
    assert stats["crops_in"] == 18 and stats["crops_train"] == 6 and stats["crops_validation"] == 4
    assert stats["audit_column"] is False and stats["audit_refused_crops"] == 0


def test_guard_band_follows_the_configured_window_and_width():
    b = H + timedelta(minutes=10)  # window 10-20 local
    table = crops_at(
        [*span("close", b - timedelta(seconds=12), 2), *span("closer", b + timedelta(seconds=4), 2)]
    )
    wide = SplitConfig(validation_start_minute=10, validation_minutes=10, guard_s=15)
    narrow = wide.model_copy(update={"guard_s": 5})
    assert parts(split_crops(table, wide, "Europe/Berlin")[0]) == {}
    assert parts(split_crops(table, narrow, "Europe/Berlin")[0]) == {"close": "train"}
    # 0 turns the band off: tracklets go by their midpoint only (as before the band existed).
    off = wide.model_copy(update={"guard_s": 0})
    assert parts(split_crops(table, off, "Europe/Berlin")[0]) == {
        "close": "train",
        "closer": "validation",
    }


def test_midpoint_decides_without_a_guard_band():
    t0 = H + timedelta(minutes=49, seconds=50)  # 13:49:50 local
    table = crops_at(
        [
            *span("a", t0, 15),
            *span("b", t0 + timedelta(seconds=5), 35),
            ("c", t0 + timedelta(minutes=11)),
        ]
    )
    config = SplitConfig(guard_s=0)
    assert parts(split_crops(table, config, "Europe/Berlin")[0]) == {
        "a": "train",
        "b": "validation",
        "c": "train",
    }
    # a, b touch 13:50
    assert parts(split_crops(table, SplitConfig(), "Europe/Berlin")[0]) == {"c": "train"}


def test_window_wrapping_past_the_hour_has_both_boundaries_guarded():
    # 55-05, UTC
    config = SplitConfig(validation_start_minute=55, validation_minutes=10, guard_s=30)
    t = datetime(2020, 2, 20, 12, 0, tzinfo=UTC)
    table = crops_at(
        [
            ("a", t - timedelta(minutes=5, seconds=20)),
            ("b", t + timedelta(minutes=2)),
            ("c", t + timedelta(minutes=4, seconds=45)),
            ("d", t + timedelta(minutes=5, seconds=40)),
        ]
    )
    assert parts(split_crops(table, config, "UTC")[0]) == {"b": "validation", "d": "train"}


@pytest.mark.parametrize("minutes", [0, 60])
def test_no_boundary_when_one_part_is_the_whole_hour(minutes):
    t = datetime(2020, 2, 20, 12, 0, 5, tzinfo=UTC)
    table, extra = split_crops(
        crops_at(span("a", t, 3)), SplitConfig(validation_minutes=minutes), "UTC"
    )
    assert parts(table) == {"a": "validation" if minutes == 60 else "train"}
    assert extra["split_stats"]["guard_band_crops"] == 0


def test_guard_band_that_leaves_no_window_is_refused():
    with pytest.raises(ValidationError, match="guard_s"):
        SplitConfig(validation_minutes=1, guard_s=30)
    SplitConfig(validation_minutes=2, guard_s=30)


def test_failed_privacy_audit_crops_never_reach_the_manifest():
    t = H + timedelta(minutes=20)
    rows = [*span("a", t, 2), *span("b", t, 3), ("c", t)]
    # An older result: failed crops were written and marked failed.
    table, extra = split_crops(
        crops_at(rows, audit=[True, False, None, True, False]), SplitConfig(), "UTC"
    )
    frame = table.to_pandas()
    assert sorted(frame["crop_path"]) == ["c0.jpg", "c2.jpg", "c3.jpg"]  # None: not audited, kept
    assert (
        extra["split_stats"]["audit_column"] is True
        and extra["split_stats"]["audit_refused_crops"] == 2
    )
    # Today's: a refused crop is not written, its row has no crop_path.
    refused = crops_at(rows, audit=[True, False, True, True, True])
    paths = refused.column("crop_path").to_pylist()
    refused = refused.set_column(
        refused.schema.get_field_index("crop_path"),
        "crop_path",
        pa.array([None if i == 1 else p for i, p in enumerate(paths)], pa.string()),
    )
    table, extra = split_crops(refused, SplitConfig(), "UTC")
    assert sorted(table.to_pandas()["crop_path"]) == ["c0.jpg", "c2.jpg", "c3.jpg", "c4.jpg"]
    assert extra["split_stats"]["audit_refused_crops"] == 1


def test_the_removed_switch_for_failed_crops_says_why():
    with pytest.raises(ValidationError, match="never written"):
        SplitConfig(refuse_failed_audit=False)
