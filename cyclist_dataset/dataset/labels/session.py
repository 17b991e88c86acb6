"""One annotator's labelling of one location: what the labelling app shows and does, without the
web (``cyclist_dataset.web`` serves it).

The state of a tracklet is the annotator's draft record of it, else the latest label version's
labels of it. Every action is one draft event (saved before it is answered), undo takes back the
latest, and ``commit`` makes a label version through ``versions.commit_labels``, the same checks
``labels import`` runs. Opening a session after a rerun carries the labels to today's tracklets
(the latest version's and the draft's), and lists what could not be carried for review.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cyclist_dataset.core.geometry import BOX_COLUMNS
from cyclist_dataset.dataset.labels import rules
from cyclist_dataset.dataset.labels.candidates import (
    AppearanceModel,
    CandidateIndex,
)
from cyclist_dataset.dataset.labels.carry import CARRY_REPORT, CarryReport, carry, carry_version
from cyclist_dataset.dataset.labels.drafts import Draft, draft_identities
from cyclist_dataset.dataset.labels.location import location_settings
from cyclist_dataset.dataset.labels.tracklets import (
    location_timezones,
    read_crops,
    tracklet_table,
)
from cyclist_dataset.dataset.labels.units import (
    JUNK,
    PERSON,
    SPAN,
    UNLABELLED,
    UNSURE,
    anchors,
    describe_spans,
    display,
    label_of,
    name_problem,
    unit_key,
)
from cyclist_dataset.dataset.labels.versions import (
    Changes,
    LabelVersion,
    commit_labels,
    completed,
    get_version,
    list_versions,
    newest,
    recorded_overrides,
    stale_units,
    version_number,
    views_of,
)
from cyclist_dataset.errors import UserError

# partial: a split tracklet with a part still unlabelled
STATUS_FILTERS = ("all", "unlabelled", "partial", "labelled", "unsure", "junk", "review")
PAGE_SIZE = 50


@dataclass(frozen=True)
class QueuePage:
    rows: list[dict]
    total: int  # rows matching the filters
    page: int
    pages: int
    counts: dict[str, int]  # per status, over the whole location


class Session:
    def __init__(
        self,
        root: Path,
        location: str | None,
        annotator: str,
        model: AppearanceModel | None = None,
        progress: Callable[[int, int], None] | None = None,
        exclusive: bool = False,
    ) -> None:
        """``exclusive``: hold the draft (``held_draft``) so that no other server opens it."""
        self.root = Path(root)
        all_crops = read_crops(self.root)
        validation = all_crops[all_crops["split"] == "validation"]
        locations = sorted(validation["location"].unique())
        if location is None:
            if len(locations) != 1:
                raise UserError(
                    f"{self.root}: validation tracklets at {len(locations)} locations "
                    f"({', '.join(locations) or 'none'}); choose one with --location"
                )
            location = locations[0]
        if location not in locations:
            raise UserError(
                f"{self.root}: no validation tracklets at location {location!r}; locations with "
                f"validation tracklets: {', '.join(locations) or 'none (run the pipeline first)'}"
            )
        self.location = location
        self.all_crops = all_crops
        self.crops = validation[validation["location"] == location].sort_values(
            ["tracklet_id", "frame_index"]
        )
        self.tracklets = tracklet_table(self.crops)
        self.crops_of = {t: g for t, g in self.crops.groupby("tracklet_id", sort=False)}
        self.spans = {
            t: (int(first), int(last))
            for t, first, last in zip(
                self.tracklets.index,
                self.tracklets["first_frame"],
                self.tracklets["last_frame"],
                strict=True,
            )
        }
        self.settings = location_settings(self.root, location)
        self.zone = location_timezones(self.root).get(location, "UTC")
        # the local time of day each tracklet starts, for the queue's time filter
        self.local_start = self.tracklets["start"].dt.tz_convert(self.zone).dt.strftime("%H:%M:%S")
        self.draft = Draft(self.root, location, annotator)
        self.version: LabelVersion | None = None
        self.made_in: dict[str, str] = {}  # tracklet -> the latest version that labelled it
        self.held_draft = self.draft.hold() if exclusive else None
        self.annotator = annotator
        self.carry_report = self._carry_if_stale()
        self.index = CandidateIndex.build(
            self.root,
            self.tracklets,
            lambda t: self.crops_of[t]["crop_path"],
            self.settings,
            model,
            progress,
        )
        self._reload(force=True)  # the review list also takes the draft's carry report

    # ------------------------------------------------------------ state

    def _reload(self, force: bool = False) -> None:
        """Recompute the state after a change of the draft; what depends only on the latest
        version (its labels, the review list) only when the version changed, or ``force``."""
        latest = get_version(self.root, None)
        if force or _name(latest) != _name(self.version):
            self._load_version(latest)
        self.draft_records = self.draft.records()
        self.records = {**self.base_records, **self.draft_records}
        self._units = self._units_frame()
        self.problems = self._problems()
        self.statuses = {t: self._status(t) for t in self.spans}

    def _load_version(self, version: LabelVersion | None) -> None:
        self.version = version
        # (labels of a 0.1 version get their frames and times from today's crops)
        labels = completed(version.labels, self.all_crops) if version is not None else None
        self.base_records: dict[str, dict] = {}
        self.made_in = {}
        self.other_locations = pd.DataFrame()
        if labels is not None:
            here = labels[labels["location"] == self.location]
            self.other_locations = labels[labels["location"] != self.location]
            self.made_in = _made_in(here)
            for tracklet_id, rows in here.groupby("tracklet_id"):
                self.base_records[str(tracklet_id)] = {
                    "tracklet_id": str(tracklet_id),
                    "parts": [_part(r) for r in rows.sort_values("first_frame").itertuples()],
                }
        self.review = self._review_list()

    def _units_frame(self) -> pd.DataFrame:
        spans = [
            {**part, "tracklet_id": t}
            for t, record in self.records.items()
            if t in self.tracklets.index
            for part in record["parts"]
        ]
        frame = pd.DataFrame(spans, columns=[*SPAN, "status", "identity"])
        crops = self.crops[self.crops["tracklet_id"].isin(frame["tracklet_id"])]
        units = describe_spans(crops, frame)
        units["unit"] = [
            display(
                r.tracklet_id,
                r.first_frame,
                r.last_frame,
                len(self.records[r.tracklet_id]["parts"]) == 1,
            )
            for r in units.itertuples()
        ]
        units["where"] = ""
        units["line"] = 0
        units["label_version"] = None
        units["source"] = f"app:{self.annotator}"
        return units

    def _problems(self) -> list[rules.Problem]:
        units = self._units
        if len(self.other_locations):
            others = self.other_locations.assign(
                where=self.other_locations["label_version"], unit=None, line=0
            )
            units = pd.concat([units, others], ignore_index=True)
        views = views_of(self.root, set(units["location"]), recorded_overrides(self.version))
        return rules.problems(units, views)

    def record(self, tracklet_id: str) -> dict:
        """A tracklet's parts with their labels (one unlabelled part when it has no record)."""
        self._known(tracklet_id)
        found = self.records.get(tracklet_id)
        if found and found["parts"]:
            return found
        first, last = self.spans[tracklet_id]
        return {
            "tracklet_id": tracklet_id,
            "parts": [
                {
                    "first_frame": first,
                    "last_frame": last,
                    "status": UNLABELLED,
                    "identity": None,
                }
            ],
        }

    def status(self, tracklet_id: str) -> str:
        """unlabelled | partial | labelled | unsure | junk | review, for the queue's filter."""
        self._known(tracklet_id)
        return self.statuses[tracklet_id]

    def _status(self, tracklet_id: str) -> str:
        statuses = {p["status"] for p in self.record(tracklet_id)["parts"]}
        if tracklet_id in self.review and tracklet_id not in self.draft_records:
            return "review"
        if UNLABELLED in statuses and len(statuses) > 1:
            return "partial"
        for status, name in ((PERSON, "labelled"), (UNSURE, "unsure"), (JUNK, "junk")):
            if status in statuses:
                return name
        return "unlabelled"

    def _known(self, tracklet_id: str) -> None:
        if tracklet_id not in self.spans:
            raise UserError(f"no validation tracklet {tracklet_id!r} at {self.location}")

    # ------------------------------------------------------------ reading

    def queue(
        self,
        camera: str | None = None,
        status: str = "all",
        start: str | None = None,
        end: str | None = None,
        page: int = 1,
        page_size: int = PAGE_SIZE,
    ) -> QueuePage:
        """The location's validation tracklets by camera and time, filtered, one page of them."""
        if status not in STATUS_FILTERS:
            raise UserError(f"status filter {status!r}: one of {', '.join(STATUS_FILTERS)}")
        table = self.tracklets
        statuses = pd.Series(self.statuses, dtype=object).reindex(table.index)
        mask = pd.Series(True, index=table.index)
        if camera:
            mask &= table["camera"] == camera
        if status != "all":
            mask &= statuses == status
        if start:
            mask &= self.local_start >= _clock(start)
        if end:
            mask &= self.local_start <= _clock(end)
        chosen = table[mask]
        pages = max(1, -(-len(chosen) // page_size))
        page = min(max(1, page), pages)
        rows = []
        for tracklet_id, info in chosen.iloc[(page - 1) * page_size : page * page_size].iterrows():
            record = self.record(str(tracklet_id))
            rows.append(
                {
                    "tracklet_id": tracklet_id,
                    "camera": info["camera"],
                    "start": info["start"].tz_convert(self.zone).strftime("%H:%M:%S"),
                    "end": info["end"].tz_convert(self.zone).strftime("%H:%M:%S"),
                    "n_crops": int(info["n_crops"]),
                    "representative": info["representative"],
                    "status": statuses[tracklet_id],
                    "labels": [_label_text(p) for p in record["parts"]],
                }
            )
        return QueuePage(rows, len(chosen), page, pages, self.counts())

    def counts(self) -> dict[str, int]:
        """Tracklets per status, and all of them."""
        counts = {s: 0 for s in STATUS_FILTERS[1:]}
        for status in self.statuses.values():
            counts[status] += 1
        return {"all": len(self.statuses), **counts}

    def neighbours(self, tracklet_id: str, status: str = "all") -> tuple[str | None, str | None]:
        """The previous and next tracklet in queue order (with the status filter)."""
        ids = [t for t in self.tracklets.index if status == "all" or self.statuses[t] == status]
        if tracklet_id not in ids:
            return (ids[0] if ids else None), (ids[0] if ids else None)
        i = ids.index(tracklet_id)
        return (ids[i - 1] if i > 0 else None), (ids[i + 1] if i + 1 < len(ids) else None)

    def tracklet(self, tracklet_id: str, per_camera: int = 3) -> dict:
        """Everything the tracklet view shows: crops, parts and labels, candidates per camera,
        same-camera fragments, problems."""
        self._known(tracklet_id)
        info = self.tracklets.loc[tracklet_id]
        zone = self.zone
        by_camera, fragments = self.index.candidates(tracklet_id, per_camera=per_camera)
        number = 0

        def described(candidate) -> dict:
            nonlocal number
            number += 1
            record = self.record(candidate.tracklet_id)
            other = self.tracklets.loc[candidate.tracklet_id]
            # a split candidate: its (first) part with an identity is the one to match
            part = next((p for p in record["parts"] if p["status"] == PERSON), record["parts"][0])
            return {
                "number": number,
                "tracklet_id": candidate.tracklet_id,
                "camera": candidate.camera,
                "first_frame": part["first_frame"],
                "label": _label_text(part),
                "score": round(candidate.score, 3),
                "time": round(candidate.time, 3),
                "appearance": round(candidate.appearance, 3),
                "gap_s": round(candidate.gap_s, 1),
                "representative": other["representative"],
                "labels": [_label_text(p) for p in record["parts"]],
            }

        cameras = {camera: [described(c) for c in listed] for camera, listed in by_camera.items()}
        same = [described(c) for c in fragments]
        crops = self.crops_of[tracklet_id]
        keys = {unit_key(tracklet_id, p["first_frame"]) for p in self.record(tracklet_id)["parts"]}
        return {
            "tracklet_id": tracklet_id,
            "camera": info["camera"],
            "video_id": info["video_id"],
            "start": info["start"].tz_convert(zone).isoformat(timespec="milliseconds"),
            "end": info["end"].tz_convert(zone).isoformat(timespec="milliseconds"),
            "n_crops": int(info["n_crops"]),
            "status": self.status(tracklet_id),
            "review": self.review.get(tracklet_id),
            "parts": [
                {**p, "label": _label_text(p), "key": unit_key(tracklet_id, p["first_frame"])}
                for p in self.record(tracklet_id)["parts"]
            ],
            "crops": [
                {
                    "path": row.crop_path,
                    "frame": int(row.frame_index),
                    "time": row.timestamp.tz_convert(zone).strftime("%H:%M:%S.%f")[:-3],
                }
                for row in crops.itertuples()
            ],
            "candidates": cameras,
            "fragments": same,
            "sightings": self._sightings(tracklet_id),
            "committed_since": self._committed_since(tracklet_id),
            "problems": [p.message for p in self.problems if keys & set(p.units)],
        }

    def _committed_since(self, tracklet_id: str) -> dict | None:
        """Labels another commit gave this tracklet after the draft changed it (committing the
        draft is refused until the annotator looks: confirm keeps the draft's)."""
        mine = self.draft_records.get(tracklet_id)
        now = self.made_in.get(tracklet_id)
        if mine is None or now is None or mine.get("base") == now:
            return None
        if mine.get("base") is not None and version_number(now) <= version_number(mine["base"]):
            return None
        theirs = self.base_records.get(tracklet_id, {"parts": []})["parts"]
        return {"version": now, "labels": [_label_text(p) for p in theirs]}

    def _sightings(self, tracklet_id: str) -> dict[str, list[dict]]:
        """Per identity of the tracklet's parts, its other sightings at this location: the
        identity's part of the graph across cameras."""
        units = self._units
        found: dict[str, list[dict]] = {}
        for part in self.record(tracklet_id)["parts"]:
            if part["status"] != PERSON or part["identity"] in found:
                continue
            same = units[
                (units["identity"] == part["identity"]) & (units["tracklet_id"] != tracklet_id)
            ].sort_values(["start", "camera"])
            found[part["identity"]] = [
                {
                    "tracklet_id": r.tracklet_id,
                    "camera": r.camera,
                    "start": r.start.tz_convert(self.zone).strftime("%H:%M:%S"),
                    "end": r.end.tz_convert(self.zone).strftime("%H:%M:%S"),
                }
                for r in same.itertuples()
            ]
        return found

    def identities(self) -> list[str]:
        names = {
            p["identity"]
            for record in self.records.values()
            for p in record["parts"]
            if p["status"] == PERSON
        }
        return sorted(names, key=_natural)

    # ------------------------------------------------------------ actions

    def act(self, action: dict) -> None:
        """Apply one action (a dict from the app) as one draft event.

        ``{"op": "same", "tracklet_id", "first_frame", "other", "other_first_frame"}``: the unit
        takes the candidate's identity (both a new one, when the candidate has none);
        ``new`` (a new identity), ``name`` (with ``identity``), ``junk``, ``unsure``, ``clear``:
        the unit's label; ``confirm``: the labels as they are (reviewed after a carry);
        ``split`` (``at_frame``): the unit is cut before that frame, the new part unlabelled;
        ``unsplit`` (``at_frame``): the part starting there joins the one before."""
        self.refresh()
        op = action.get("op")
        tracklet_id = str(action.get("tracklet_id", ""))
        record = _copy(self.record(tracklet_id))
        changed = [record]
        if op == "split":
            _split(record, _frame(action, "at_frame"), self.crops_of[tracklet_id])
            what = f"split {tracklet_id} at frame {action['at_frame']}"
        elif op == "unsplit":
            _unsplit(record, _frame(action, "at_frame"))
            what = f"joined the parts of {tracklet_id} at frame {action['at_frame']}"
        else:
            part = _find_part(record, _optional_frame(action, "first_frame"))
            if op == "same":
                other_id = str(action.get("other", ""))
                other = _copy(self.record(other_id))
                other_part = _find_part(other, _optional_frame(action, "other_first_frame"))
                if other_part["status"] == PERSON:
                    identity = other_part["identity"]
                elif other_part["status"] in (JUNK, UNSURE):
                    raise UserError(
                        f"{other_id} is marked {other_part['status']}: give it an identity first, "
                        "or give this tracklet a new one (n)"
                    )
                else:
                    identity = self._new_identity()
                    _set(other_part, PERSON, identity)
                    changed.append(other)
                if other_id == tracklet_id:
                    raise UserError("a tracklet cannot be its own candidate")
                _set(part, PERSON, identity)
                what = f"{tracklet_id}: same person as {other_id} ({identity})"
            elif op == "new":
                _set(part, PERSON, self._new_identity())
                what = f"{tracklet_id}: new identity {part['identity']}"
            elif op == "name":
                identity = str(action.get("identity", "")).strip()
                problem = name_problem(identity)
                if problem:
                    raise UserError(problem)
                _set(part, PERSON, identity)
                what = f"{tracklet_id}: identity {identity}"
            elif op in (JUNK, UNSURE):
                _set(part, op, None)
                what = f"{tracklet_id}: {op}"
            elif op == "clear":
                _set(part, UNLABELLED, None)
                what = f"{tracklet_id}: label cleared"
            elif op == "confirm":
                what = f"{tracklet_id}: labels confirmed as they are"
            else:
                raise UserError(f"unknown action {op!r}")
        # "labels are right" is also "keep mine" over a conflicting commit: made against it now
        bases = [self.made_in.get(r["tracklet_id"]) if op == "confirm" else False for r in changed]
        self.draft.append(
            {
                "op": "set",
                "action": what,
                "records": [self._anchored(r, b) for r, b in zip(changed, bases, strict=True)],
            }
        )
        self._reload()

    def refresh(self) -> None:
        """Another annotator's commit since the last look: see it (the labels shown, and what an
        action's record is made against)."""
        if _name(get_version(self.root, None)) != _name(self.version):
            self._reload()

    def undo(self) -> str | None:
        """Take back the latest action; what it was (None: nothing to undo)."""
        what = self.draft.last_action()
        if what is not None:
            self.draft.append({"op": "undo"})
            self._reload()
        return what

    def _new_identity(self) -> str:
        """The first free p1, p2, ...: not in the latest version, nor in any annotator's draft at
        any location (two annotators pressing n must not both make "p1")."""
        taken = {name.casefold() for name in self.identities()}
        for path in sorted(self.draft.path.parent.parent.glob("*/*.jsonl")):
            if path != self.draft.path:  # identities are one namespace over all locations
                taken |= {name.casefold() for name in draft_identities(path)}
        if len(self.other_locations):
            taken |= {str(i).casefold() for i in self.other_locations["identity"].dropna()}
        n = 1
        while f"p{n}" in taken:
            n += 1
        return f"p{n}"

    def _anchored(self, record: dict, base: str | None | bool = False) -> dict:
        """A record with what anchors it to the footage (video, fingerprint, boxes) and the labels
        it was made against (``base``; default: those of the tracklet's draft record if it has
        one, else the latest version's): a later commit by someone else then conflicts."""
        tracklet_id = record["tracklet_id"]
        if base is False:
            earlier = self.draft_records.get(tracklet_id)
            base = earlier.get("base") if earlier else self.made_in.get(tracklet_id)
        crops = self.crops_of[tracklet_id]
        parts = [
            p for p in record["parts"] if p["status"] != UNLABELLED or len(record["parts"]) > 1
        ]
        return {
            "tracklet_id": tracklet_id,
            "base": base,
            "video_id": str(self.tracklets.at[tracklet_id, "video_id"]),
            "fingerprint": str(self.tracklets.at[tracklet_id, "fingerprint"]),
            "parts": parts,
            "boxes": [
                [int(r.frame_index), *(round(float(getattr(r, c)), 2) for c in BOX_COLUMNS)]
                for r in crops.itertuples()
            ],
        }

    # ------------------------------------------------------------ commit

    def commit(self) -> LabelVersion:
        """The draft as the next label version (merged into the latest), through the checks of
        ``labels import``; the draft starts empty again."""
        draft = self.draft_records
        if not draft:
            raise UserError("nothing to commit: the draft has no changes")
        units = self._units[self._units["tracklet_id"].isin(list(draft))]
        changes = Changes(
            units,
            anchors(self.crops, units),
            frozenset(draft),
            as_of={t: record.get("base") for t, record in draft.items()},
            conflict_hint="open it, check its labels, and label it again (a keeps yours)",
            reviewed=frozenset(t for t in draft if t in self.review),
        )
        version = commit_labels(
            self.root,
            changes,
            self.all_crops,
            title=f"draft of {self.annotator}: not committed",
            by=self.annotator,
            source={"source": "app", "draft": str(self.draft.path), "location": self.location},
        )
        self.draft.append({"op": "committed", "version": version.name})
        self._reload()
        return version

    # ------------------------------------------------------------ after a rerun

    def _carry_if_stale(self) -> CarryReport | None:
        """Carry the latest version's labels of this location, and the draft's records, to
        today's tracklets when a rerun changed those they were made on."""
        report = None
        version = get_version(self.root, None)
        if version is not None:
            # every location's: a version never holds stale labels
            if len(stale_units(version.labels, self.all_crops)):
                report = carry_version(self.root, self.all_crops)[1]
        draft = self.draft.records()
        if version is not None:  # what the carried draft records are made against
            now = get_version(self.root, None)
            assert now is not None
            self.made_in = _made_in(now.labels[now.labels["location"] == self.location])
        stale = [
            r
            for t, r in draft.items()
            if t not in self.tracklets.index
            or r["fingerprint"] != self.tracklets.at[t, "fingerprint"]
        ]
        if stale:
            labels, boxes = _records_as_labels(stale, self.location)
            carried = carry(labels, boxes, self.crops, keep_unlabelled=True)
            kept = [r for t, r in draft.items() if r not in stale]
            bases = {r["tracklet_id"]: r.get("base") for r in stale}
            moved = []
            for tracklet_id, rows in carried.units.groupby("tracklet_id"):
                record = {
                    "tracklet_id": tracklet_id,
                    "parts": [_part(r) for r in rows.itertuples()],
                }
                # made against the earliest labels of the records it came from (None first)
                sources = {k.split("@")[0] for src in rows["source"] for k in _sources(src)}
                base = min(
                    (bases.get(t) for t in sources),
                    key=lambda v: -1 if v is None else version_number(v),
                    default=None,
                )
                moved.append(self._anchored(record, base))
            self.draft.append(
                {
                    "op": "reset",
                    "records": kept + moved,
                    "why": "carried after a rerun",
                    "report": carried.report.as_dict(),
                }
            )
            if report is None:
                report = carried.report
            else:
                for name, items in carried.report.as_dict().items():
                    getattr(report, name).extend(items)
        return report

    def _review_list(self) -> dict[str, str]:
        """Tracklets of this location to review after the latest carry (of the version, and of
        the draft's records): tracklet id -> why. A tracklet is reviewed once a later version
        labels it again or lists it as reviewed, or the draft changes it."""
        found: dict[str, str] = {}
        for item in self.draft.carry_report().get("review", []):
            found.setdefault(item["tracklet_id"], item["why"])
        carried = _latest_carry(self.root)
        if carried is not None:
            report = json.loads((carried.path / CARRY_REPORT).read_text(encoding="utf-8"))
            after = version_number(carried.name)
            later = [v for v in list_versions(self.root) if version_number(v.name) > after]
            relabelled = {t for v in later for t in v.meta.get("reviewed", [])}
            if later:
                labels = later[-1].labels
                newer = labels["label_version"].map(version_number) > after
                relabelled |= set(labels.loc[newer, "tracklet_id"])
            for item in report.get("review", []):
                if item["tracklet_id"] not in relabelled:
                    found.setdefault(item["tracklet_id"], item["why"])
        return {t: why for t, why in found.items() if t in self.spans}

    def lost(self) -> list[dict]:
        """The labels of this location the latest carries (the version's, the draft's) could not
        bring to any tracklet of today."""
        found = list(self.draft.carry_report().get("lost", []))
        carried = _latest_carry(self.root)
        if carried is not None:
            report = json.loads((carried.path / CARRY_REPORT).read_text(encoding="utf-8"))
            found += report.get("lost", [])
        return [item for item in found if item.get("location", self.location) == self.location]


def _name(version: LabelVersion | None) -> str | None:
    return version.name if version is not None else None


def _made_in(labels: pd.DataFrame) -> dict[str, str]:
    """Per tracklet, the latest version that labelled it."""
    return {str(t): newest(v) for t, v in labels.groupby("tracklet_id")["label_version"]}


def _latest_carry(root: Path) -> LabelVersion | None:
    for version in reversed(list_versions(root)):
        if (version.path / CARRY_REPORT).is_file():
            return version
    return None


def _records_as_labels(records: list[dict], location: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Draft records as a label table and its anchors, for ``carry``. A cleared record (no parts:
    its tracklet has no label, whatever the version says) is one unlabelled part, so that the
    clearing is carried too."""
    labels, boxes = [], []
    for record in records:
        frames = [b[0] for b in record["boxes"]]
        parts = record["parts"] or [
            {"first_frame": min(frames), "last_frame": max(frames), "status": UNLABELLED}
        ]
        for part in parts:
            labels.append(
                {
                    "tracklet_id": record["tracklet_id"],
                    "location": location,
                    "identity": None,
                    **part,
                    "label_version": None,
                }
            )
            boxes += [
                {
                    "tracklet_id": record["tracklet_id"],
                    "first_frame": part["first_frame"],
                    "video_id": record["video_id"],
                    "frame_index": b[0],
                    **dict(zip(BOX_COLUMNS, b[1:], strict=True)),
                }
                for b in record["boxes"]
                if part["first_frame"] <= b[0] <= part["last_frame"]
            ]
    label_columns = ["tracklet_id", "location", "first_frame", "last_frame", "status", "identity"]
    box_columns = ["tracklet_id", "first_frame", "video_id", "frame_index", *BOX_COLUMNS]
    return (
        pd.DataFrame(labels, columns=[*label_columns, "label_version"]),
        pd.DataFrame(boxes, columns=box_columns),
    )


def _sources(source: str) -> list[str]:
    """The old unit keys a carried unit's ``source`` names ("carried from a@1, b@5")."""
    prefix = "carried from "
    return source[len(prefix) :].split(", ") if source.startswith(prefix) else []


def _part(row) -> dict:
    return {
        "first_frame": int(row.first_frame),
        "last_frame": int(row.last_frame),
        "status": str(row.status),
        "identity": None if pd.isna(row.identity) else str(row.identity),
    }


def _copy(record: dict) -> dict:
    return {"tracklet_id": record["tracklet_id"], "parts": [dict(p) for p in record["parts"]]}


def _optional_frame(action: dict, key: str) -> int | None:
    return None if action.get(key) is None else _frame(action, key)


def _frame(action: dict, key: str) -> int:
    """A frame number of an action (an app's request: anything may come)."""
    value = action.get(key)
    if (
        isinstance(value, bool)
        or not isinstance(value, int | str)
        or not (str(value).isascii() and str(value).isdecimal())
    ):
        raise UserError(f"{key}: a frame number is needed, got {value!r}")
    return int(value)


def _find_part(record: dict, first_frame: int | None) -> dict:
    if first_frame is None:
        return record["parts"][0]
    for part in record["parts"]:
        if part["first_frame"] == first_frame:
            return part
    raise UserError(f"{record['tracklet_id']} has no part starting at frame {first_frame}")


def _set(part: dict, status: str, identity: str | None) -> None:
    part["status"], part["identity"] = status, identity


def _split(record: dict, at: int, crops: pd.DataFrame) -> None:
    frames = crops["frame_index"].to_numpy()
    for i, part in enumerate(record["parts"]):
        if part["first_frame"] < at <= part["last_frame"]:
            before = frames[(frames < at) & (frames >= part["first_frame"])]
            if at not in frames:
                raise UserError(f"frame {at} is not a crop of {record['tracklet_id']}")
            second = {
                "first_frame": at,
                "last_frame": part["last_frame"],
                "status": UNLABELLED,
                "identity": None,
            }
            part["last_frame"] = int(before.max())
            record["parts"].insert(i + 1, second)
            return
    raise UserError(
        f"cannot split {record['tracklet_id']} at frame {at}: a part must keep at least one crop "
        "on each side"
    )


def _unsplit(record: dict, at: int) -> None:
    for i, part in enumerate(record["parts"][1:], 1):
        if part["first_frame"] == at:
            before = record["parts"][i - 1]
            before["last_frame"] = part["last_frame"]
            if before["status"] == UNLABELLED:  # the joined part keeps the label there is
                _set(before, part["status"], part["identity"])
            del record["parts"][i]
            return
    raise UserError(f"{record['tracklet_id']} has no split at frame {at}")


def _label_text(part: dict) -> str:
    return label_of(part["status"], part["identity"])


def _natural(name: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name))


def _clock(value: str) -> str:
    """A filter's time of day, "HH:MM" or "HH:MM:SS"."""
    if not re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value.strip()):
        raise UserError(f"time {value!r}: give a time of day, HH:MM or HH:MM:SS")
    parts = value.strip().split(":")
    return ":".join(p.zfill(2) for p in (parts + ["00"])[:3])
