"""Carry labels over to the tracklets of a rerun.

A rerun with other parameters renumbers and reshapes tracklets; a label is anchored to the boxes
its unit had (``units.anchors``), so it can follow them. A crop of today's tracklets inherits the
label of the anchored box in the same video and frame that it overlaps most (IoU >= ``MIN_IOU``).
Then, per tracklet of today:

- its matched crops carry one label, and they are at least ``MIN_SHARE`` of its crops: the
  tracklet takes that label (from one old unit: carried; from several: merged);
- they carry several labels, each in one run of frames (a tracklet that now spans what were
  two, or a tracklet that was split): it is split between the runs, each part taking its label;
- the labels interleave, or too few of its crops match: nothing is carried, and the tracklet is
  listed for review.

An old unit whose label reached no tracklet of today is listed as lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cyclist_dataset.core.geometry import BOX_COLUMNS, iou_pairs
from cyclist_dataset.dataset.labels import rules
from cyclist_dataset.dataset.labels.units import (
    JUNK,
    PERSON,
    SPAN,
    UNLABELLED,
    UNSURE,
    anchors,
    describe_spans,
    label_of,
    uncovered,
    unit_key,
    unit_keys,
    without_bare_unlabelled,
)
from cyclist_dataset.dataset.labels.versions import (
    Changes,
    LabelVersion,
    commit_labels,
    get_version,
    newest,
    recorded_overrides,
    stale_units,
    views_of,
)
from cyclist_dataset.errors import UserError

# The same box in two runs overlaps almost exactly; 0.5 still follows a box a changed detector
# or filter setting moved a little, and never jumps to a neighbour.
MIN_IOU = 0.5
# A tracklet takes a label when at least half of its crops (or of its part's) were labelled crops.
MIN_SHARE = 0.5
CARRY_REPORT = "carry_report.json"  # in the version a carry makes


@dataclass
class CarryReport:
    carried: list[dict] = field(default_factory=list)  # one old unit -> one unit of today
    merged: list[dict] = field(default_factory=list)  # several old units -> one unit of today
    split: list[dict] = field(default_factory=list)  # one old unit -> several units of today
    review: list[dict] = field(default_factory=list)  # tracklets of today given no label
    lost: list[dict] = field(default_factory=list)  # old units whose label went nowhere

    def as_dict(self) -> dict:
        return {
            "carried": self.carried,
            "merged": self.merged,
            "split": self.split,
            "review": self.review,
            "lost": self.lost,
        }

    def summary(self) -> str:
        to_review = len({item["tracklet_id"] for item in self.review})
        return (
            f"{len(self.carried)} carried, {len(self.merged)} merged, {len(self.split)} split "
            f"over several tracklets, {len(self.lost)} lost, {to_review} tracklet(s) to review"
        )


@dataclass(frozen=True)
class Carried:
    units: pd.DataFrame  # schemas.LABELS columns (label_version null), plus where and line
    report: CarryReport


def carry(
    labels: pd.DataFrame,
    anchors: pd.DataFrame,
    crops: pd.DataFrame,
    keep_unlabelled: bool = False,
) -> Carried:
    """Today's label units for ``labels`` (with their ``anchors``) on today's ``crops`` (the split
    manifest; only validation crops are labelled). ``keep_unlabelled``: a tracklet carried whole
    as unlabelled keeps its row (a draft's cleared label), instead of having none."""
    crops = crops[crops["split"] == "validation"]
    old = anchors.merge(
        _with_version(labels)[
            ["tracklet_id", "first_frame", "location", "status", "identity", "label_version"]
        ],
        on=["tracklet_id", "first_frame"],
    )
    old["label"] = [label_of(r.status, r.identity) for r in old.itertuples()]
    old["old_unit"] = unit_keys(old)
    pairs = crops[["tracklet_id", "video_id", "frame_index", "crop_path", *BOX_COLUMNS]].merge(
        old[["video_id", "frame_index", "old_unit", "label", "label_version", *BOX_COLUMNS]],
        on=["video_id", "frame_index"],
        suffixes=("", "_old"),
    )
    pairs["iou"] = iou_pairs(
        pairs[list(BOX_COLUMNS)].to_numpy(), pairs[[f"{c}_old" for c in BOX_COLUMNS]].to_numpy()
    )
    pairs = (
        pairs[pairs["iou"] >= MIN_IOU]
        .sort_values(["crop_path", "iou"], ascending=[True, False])
        .drop_duplicates("crop_path")
    )
    report = CarryReport()
    spans: list[dict] = []
    sources: dict[str, set[str]] = {}  # unit of today -> old units
    frames_of = {t: np.sort(f.to_numpy()) for t, f in crops.groupby("tracklet_id")["frame_index"]}
    for tracklet_id, matched in pairs.groupby("tracklet_id", sort=True):
        frames = frames_of[tracklet_id]
        matched = matched.sort_values("frame_index")
        runs = _runs(matched["label"].tolist())
        if len(runs) != len(set(runs)):
            report.review.append(
                {
                    "tracklet_id": tracklet_id,
                    "why": "labels of several old units interleave in it: "
                    + ", ".join(sorted(set(runs))),
                }
            )
            continue
        found = _carry_tracklet(str(tracklet_id), frames, matched, runs, report)
        for span, part in found:
            spans.append(span)
            sources[unit_key(tracklet_id, span["first_frame"])] = set(part["old_unit"])
    units = _describe(spans, crops, keep_unlabelled)
    _classify(report, units, sources, old)
    unanchored = labels[~unit_keys(labels).isin(old["old_unit"]) & (labels["status"] != UNLABELLED)]
    for row in unanchored.itertuples():
        report.lost.append(
            {
                "unit": unit_key(row.tracklet_id, row.first_frame),
                "location": row.location,
                "label": label_of(row.status, row.identity),
                "why": "no boxes were kept of it (a version made by cyclist-dataset 0.1) and its "
                "tracklet has changed since",
            }
        )
    return Carried(units, report)


def _runs(labels: list[str]) -> list[str]:
    runs: list[str] = []
    for label in labels:
        if not runs or runs[-1] != label:
            runs.append(label)
    return runs


def _carry_tracklet(
    tracklet_id: str,
    frames: np.ndarray,
    matched: pd.DataFrame,
    runs: list[str],
    report: CarryReport,
) -> list[tuple[dict, pd.DataFrame]]:
    """The parts of one tracklet of today, with the labelled crops behind each: one per run of a
    label (from its first to its last labelled crop), and unlabelled parts for its crops before,
    between and after them, which nobody labelled (listed for review: they may show another
    person, as when a rerun's tracker joins a second person to a labelled track)."""
    run_id = matched["label"].ne(matched["label"].shift()).cumsum().to_numpy() - 1
    bounds = [
        (
            int(matched["frame_index"].to_numpy()[run_id == k].min()),
            int(matched["frame_index"].to_numpy()[run_id == k].max()),
        )
        for k in range(len(runs))
    ]
    found: list[tuple[dict, pd.DataFrame]] = []
    labelled: list[tuple[int, int, str]] = []
    for (first, last), label in zip(bounds, runs, strict=True):
        part = matched[(matched["frame_index"] >= first) & (matched["frame_index"] <= last)]
        n = int(((frames >= first) & (frames <= last)).sum())
        if len(part) < MIN_SHARE * n:
            report.review.append(
                {
                    "tracklet_id": tracklet_id,
                    "frames": [first, last],
                    "why": f"only {len(part)} of its {n} crops were labelled {label!r} crops",
                }
            )
            continue
        labelled.append((first, last, label))
        found.append((_span(tracklet_id, first, last, label, part), part))
    if not found:
        return []
    # the crops no label covers: their own unlabelled parts, so that no label reaches them
    for first, last, n in uncovered(frames, [(start, end) for start, end, _ in labelled]):
        found.append(
            (_span(tracklet_id, first, last, UNLABELLED, matched.iloc[:0]), matched.iloc[:0])
        )
        report.review.append(
            {
                "tracklet_id": tracklet_id,
                "frames": [first, last],
                "why": f"its frames {first}-{last} ({n} crops) were in no labelled tracklet; "
                "they were split off unlabelled: check whether they show the same person",
            }
        )
    return sorted(found, key=lambda item: item[0]["first_frame"])


def _span(tracklet_id: str, first: int, last: int, label: str, matched_from: pd.DataFrame) -> dict:
    status = label if label in (JUNK, UNSURE, UNLABELLED) else PERSON
    versions = matched_from["label_version"].dropna()
    return {
        "tracklet_id": tracklet_id,
        "first_frame": int(first),
        "last_frame": int(last),
        "status": status,
        "identity": label if status == PERSON else None,
        "where": "carried",
        "line": 0,
        "source": "carried from " + ", ".join(sorted(set(matched_from["old_unit"])))
        if len(matched_from)
        else "carried: crops nobody labelled",
        # a carried label is still the label that version made (None: the carrying version's)
        "label_version": newest(versions) if len(versions) else None,
    }


def _with_version(labels: pd.DataFrame) -> pd.DataFrame:
    return labels if "label_version" in labels else labels.assign(label_version=None)


def _describe(spans: list[dict], crops: pd.DataFrame, keep_unlabelled: bool) -> pd.DataFrame:
    if not spans:
        frame = pd.DataFrame(
            columns=[*SPAN, "status", "identity", "where", "line", "source", "label_version"]
        )
    else:
        frame = pd.DataFrame(spans)
    units = describe_spans(crops, frame)
    return units if keep_unlabelled else without_bare_unlabelled(units)


def _classify(
    report: CarryReport, units: pd.DataFrame, sources: dict[str, set[str]], old: pd.DataFrame
) -> None:
    reached: dict[str, list[str]] = {}
    for unit in units.itertuples():
        if unit.status == UNLABELLED:
            continue  # crops nobody labelled: listed for review
        key = unit_key(unit.tracklet_id, unit.first_frame)
        froms = sorted(sources.get(key, ()))
        for source in froms:
            reached.setdefault(source, []).append(key)
        entry = {"to": key, "from": froms, "label": label_of(unit.status, unit.identity)}
        (report.merged if len(froms) > 1 else report.carried).append(entry)
    for unit, group in old.groupby("old_unit", sort=True):
        targets = reached.get(str(unit), [])
        if len(targets) > 1:
            report.split.append({"from": unit, "to": targets, "label": group["label"].iloc[0]})
        elif not targets and group["label"].iloc[0] != UNLABELLED:
            report.lost.append(
                {
                    "unit": unit,
                    "location": group["location"].iloc[0],
                    "label": group["label"].iloc[0],
                    "why": "none of its crops is in a tracklet of today that could take its label",
                }
            )


def carry_version(
    root: Path, crops: pd.DataFrame, locations: set[str] | None = None
) -> tuple[LabelVersion, CarryReport]:
    """Carry the latest label version's labels (of ``locations``; default all) to today's
    tracklets as the next version, with the report in it (``carry_report.json``). Always the
    latest: carrying an older one would drop every label made after it."""
    version = get_version(root, None)
    if version is None:
        raise UserError(f"{root}: no label versions to carry")
    labels = version.labels
    if locations is not None:
        labels = labels[labels["location"].isin(locations)]
    boxes = version.anchors
    if boxes.empty and len(labels):  # made by 0.1: the labels still fresh are today's boxes
        boxes = anchors(crops, labels.drop(stale_units(labels, crops).index))
    carried = carry(labels, boxes, crops)
    units = _without_impossible(
        carried, views_of(root, set(labels["location"]), recorded_overrides(version))
    )
    made = commit_labels(
        root,
        Changes(
            units,
            anchors(crops, units),
            frozenset(units["tracklet_id"]),
            frozenset(locations if locations is not None else labels["location"]),
        ),
        crops,
        title=f"labels carried from {version.name}: not kept",
        by="carry",
        source={"source": "carry", "carried_from": version.name, "carry": carried.report.summary()},
        extra={CARRY_REPORT: json.dumps(carried.report.as_dict(), indent=2, sort_keys=True) + "\n"},
    )
    return made, carried.report


def _without_impossible(carried: Carried, views: dict[str, bool]) -> pd.DataFrame:
    """The carried units, those that break a rule left unlabelled and listed for review (two
    labels a rerun joined can make one person be at two places at once): a carry never stops
    the labelling."""
    units = carried.units.copy()
    found = rules.problems(units.assign(where="", unit=None, line=0), views)
    bad = {key: p.message for p in found for key in p.units}
    if not bad:
        return units
    keys = unit_keys(units)
    for row, key in zip(units.itertuples(), keys, strict=True):
        if key in bad:
            carried.report.review.append(
                {
                    "tracklet_id": row.tracklet_id,
                    "frames": [int(row.first_frame), int(row.last_frame)],
                    "why": f"its carried label {label_of(row.status, row.identity)!r} breaks a "
                    f"rule ({bad[key]}); it was left unlabelled",
                }
            )
    units.loc[keys.isin(bad).to_numpy(), ["status", "identity", "label_version"]] = [
        UNLABELLED,
        None,
        None,
    ]
    return without_bare_unlabelled(units)
