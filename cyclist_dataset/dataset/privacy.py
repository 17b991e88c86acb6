"""What a release may say about privacy, computed from the manifests: the release gate and the
privacy summary of its metadata and dataset card.

A crop goes into a release only if its manifest row records a passing verdict of the privacy audit
*as currently defined* (``stages.anonymize.audit``: detectors and their model files, thresholds,
views): a verdict made under a looser or older definition is stale. ``privacy_gate`` finds the
crops without such a verdict, per location and camera, and refuses the release unless the caller
explicitly allows unaudited crops (research use; the release then says so everywhere it is read).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from cyclist_dataset.core.config import AuditConfig
from cyclist_dataset.dataset.reader import ALLOW_FLAG
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.workspace import Workspace
from cyclist_dataset.stages.anonymize.audit import audit_identity, falls_short


def reference_audit() -> dict:
    """The audit as currently defined: this version's defaults (model files hashed, not loaded)."""
    return audit_identity(AuditConfig())


def verdicts(crops: pd.DataFrame, reference: dict | None = None) -> pd.Series:
    """Per crop row: None if it carries a passing verdict under ``reference`` (default: the current
    audit), else why not ("not audited", "audited by an older audit", ...)."""
    reference = reference or reference_audit()
    reasons: dict[str, str | None] = {}
    for text in crops["anonymization"].unique():
        recorded = json.loads(text).get("audit")
        reasons[text] = falls_short(recorded, reference)
    reason = crops["anonymization"].map(reasons)
    if "audit_passed" in crops:  # older results kept failed crops on disk, marked failed
        failed = crops["audit_passed"].eq(False).fillna(False)
        reason = reason.mask(failed, "failed the audit")
    return reason


def privacy_gate(root: Path, crops: pd.DataFrame, allow_unaudited: bool) -> pd.Series:
    """The crops' verdict reasons (``verdicts``); raises ``UserError`` naming every location and
    camera with crops lacking a passing verdict, unless ``allow_unaudited``."""
    reason = verdicts(crops)
    missing = crops[reason.notna()].assign(reason=reason[reason.notna()])
    if len(missing) and not allow_unaudited:
        totals = crops.groupby(["location", "camera"]).size()
        lines = [
            f"  {location}/{camera}: {len(group)} of {totals[(location, camera)]} crops: "
            + ", ".join(
                f"{n} {why}" for why, n in group["reason"].value_counts().sort_index().items()
            )
            for (location, camera), group in missing.groupby(["location", "camera"], sort=True)
        ]
        raise UserError(
            f"{root}: release refused: {len(missing)} crop(s) have no passing verdict of the "
            "privacy "
            "audit as currently defined:\n"
            + "\n".join(lines)
            + "\nFix: turn the audit on (delete `audit = { enabled = false }` from [anonymize] in "
            "the pipeline file) and run `cyclist-dataset run PIPELINE` again: it redoes the "
            "anonymize and split stages only (detections and tracks are kept), audits every crop "
            "and blurs again where needed. For research use only, `release create "
            f"{ALLOW_FLAG}` makes the release anyway and marks it unaudited in its metadata, its "
            "card and wherever it is read."
        )
    return reason


def refused_crops(root: Path, videos: Iterable[str]) -> pd.DataFrame:
    """The crops the audit refused (never written), of the given videos: location, camera,
    refused (why)."""
    frames = []
    for video_id in sorted(set(videos)):
        path = Workspace(root).stage_output("anonymize", video_id)
        if not path.is_file():
            continue
        if "refused" not in pq.read_schema(path).names:
            continue  # written before refused crops were recorded (they were kept, marked failed)
        rows = pd.read_parquet(path, columns=["location", "camera", "crop_path", "refused"])
        frames.append(rows[rows["crop_path"].isna()])
    if not frames:
        return pd.DataFrame(columns=["location", "camera", "refused"])
    return pd.concat(frames, ignore_index=True)[["location", "camera", "refused"]]


def privacy_summary(
    crops: pd.DataFrame, reason: pd.Series, refused: pd.DataFrame, allow_unaudited: bool
) -> dict:
    """The release's privacy statements, every one counted from the manifests: per location and
    camera the crops released, audited, escalated (1, 2, 3 rounds), refused, unaudited (why),
    and the blur methods; the audit's definition."""
    reference = reference_audit()
    methods = crops["anonymization"].map(
        {text: json.loads(text).get("method", "?") for text in crops["anonymization"].unique()}
    )
    escalations = (
        crops["audit_escalations"]
        if "audit_escalations" in crops
        else pd.Series(pd.NA, index=crops.index)
    )
    by_camera = []
    keys = sorted(
        set(map(tuple, crops[["location", "camera"]].drop_duplicates().to_numpy()))
        | set(map(tuple, refused[["location", "camera"]].drop_duplicates().to_numpy()))
    )
    for location, camera in keys:
        here = (crops["location"] == location) & (crops["camera"] == camera)
        audited = here & reason.isna()
        rounds = escalations[audited].dropna().astype(int)
        gone = refused[(refused["location"] == location) & (refused["camera"] == camera)]
        by_camera.append(
            {
                "location": location,
                "camera": camera,
                "crops": int(here.sum()),
                "audited": int(audited.sum()),
                "escalated": {str(k): int((rounds == k).sum()) for k in sorted(set(rounds) - {0})},
                "refused": int(len(gone)),
                "unaudited": {
                    str(why): int(n) for why, n in reason[here].value_counts().sort_index().items()
                },
                "methods": {str(m): int(n) for m, n in methods[here].value_counts().items()},
            }
        )
    views = reference["views"]
    return {
        "audited": bool(reason.isna().all()),
        "allow_unaudited": allow_unaudited,
        "crops": len(crops),
        "unaudited_crops": int(reason.notna().sum()),
        "refused_crops": int(len(refused)),
        "audit": {
            "version": reference["version"],
            "detectors": reference["detectors"],
            "thresholds": reference["thresholds"],
            "face_px": views["face_px"],
            "head_fraction": views["head_fraction"],
            "margins": {name: spec["margin"] for name, spec in views["detector_views"].items()},
            "views": views["detector_views"],
        },
        "by_camera": by_camera,
    }
