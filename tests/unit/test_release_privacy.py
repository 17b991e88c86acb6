"""Releases gated on the privacy audit, and dataset cards whose privacy statements are counted from
the manifests (synthetic workspaces: each crop records the synthetic audit's verdict, or none)."""

from __future__ import annotations

import json
import warnings
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest
from synthetic_workspace import T0, Tracklet, make_workspace
from typer.testing import CliRunner

from cyclist_dataset.cli import app
from cyclist_dataset.dataset.pull import pull
from cyclist_dataset.dataset.reader import UnauditedReleaseWarning
from cyclist_dataset.dataset.release import create_release, load_split
from cyclist_dataset.errors import UserError


def workspace(root: Path, b_audited: bool = True) -> Path:
    """town: cameras A and B (B unaudited unless ``b_audited``), validation from minute 50; city:
    camera C, validation from minute 40."""
    return make_workspace(
        root,
        [
            Tracklet("town_A_t0001", "A", T0),
            Tracklet("town_A_t0000", "A", T0 - timedelta(minutes=30), split="train"),
            Tracklet("town_B_t0001", "B", T0 + timedelta(seconds=30), audited=b_audited),
            Tracklet("city_C_t0001", "C", T0, location="city"),
        ],
        validation_start={"city": 40},
    )


def refuse_crops(root: Path, video_id: str, location: str, camera: str, n: int) -> None:
    """Rows the audit refused (never written), as the anonymize stage records them."""
    folder = root / "stages" / "anonymize"
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(
        {
            "location": [location] * n,
            "camera": [camera] * n,
            "crop_path": [None] * n,
            "refused": ["a face is still found after 3 escalation(s): yunet 0.71/0.65"] * n,
        }
    ).to_parquet(folder / f"{video_id}.parquet")


def test_a_camera_without_audit_is_refused_with_the_fix(tmp_path):
    root = workspace(tmp_path / "ws", b_audited=False)
    with pytest.raises(UserError) as refused:
        create_release(root, "v1")
    message = str(refused.value)
    assert "town/B: 4 of 4 crops: 4 not audited" in message
    assert "town/A" not in message and "city/C" not in message
    assert "cyclist-dataset run PIPELINE" in message and "--allow-unaudited" in message
    assert not (root / "releases" / "v1").exists()
    result = CliRunner().invoke(app, ["release", "create", str(root), "v1"])
    assert isinstance(result.exception, UserError) and "town/B" in str(result.exception)


def test_allow_unaudited_is_recorded_and_said_on_every_read(tmp_path):
    root = workspace(tmp_path / "ws", b_audited=False)
    result = CliRunner().invoke(app, ["release", "create", str(root), "r1", "--allow-unaudited"])
    assert result.exit_code == 0, result.output
    release = root / "releases" / "r1"
    privacy = json.loads((release / "release.json").read_text())["privacy"]
    assert privacy["audited"] is False and privacy["allow_unaudited"] is True
    assert privacy["unaudited_crops"] == 4 and privacy["crops"] == 16
    first = (release / "README.md").read_text().splitlines()[0]
    assert first.startswith("> **WARNING: UNAUDITED RELEASE") and "4 of 16 crops" in first
    with pytest.warns(UnauditedReleaseWarning, match="UNAUDITED RELEASE"):
        load_split(release, "train")
    from cyclist_dataset.dataset.torch import ReidDataset

    with pytest.warns(UnauditedReleaseWarning):
        ReidDataset(release, "test")
    with pytest.warns(UnauditedReleaseWarning):
        pull(release, "test", tmp_path / "out", "parquet")
    assert "UNAUDITED" in (tmp_path / "out" / "test.UNAUDITED_RELEASE.txt").read_text()
    result = CliRunner().invoke(
        app, ["pull", str(release), "--split", "train", "--to", str(tmp_path / "out")]
    )
    assert result.exit_code == 0 and "WARNING" in result.output
    assert (tmp_path / "out" / "train.UNAUDITED_RELEASE.txt").is_file()


def test_an_audited_release_reads_without_warnings_and_its_card_counts_the_audit(tmp_path):
    root = workspace(tmp_path / "ws")
    refuse_crops(root, "town_B", "town", "B", 3)
    release = create_release(root, "v1", labels="none")
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnauditedReleaseWarning)
        load_split(release, "test")
    meta = json.loads((release / "release.json").read_text())
    privacy = meta["privacy"]
    assert privacy["audited"] is True and privacy["refused_crops"] == 3
    by_camera = {c["camera"]: c for c in privacy["by_camera"]}
    # Synthetic crops record 0 or 1 escalation, alternately: per tracklet of 4 crops, 2 escalated.
    assert by_camera["A"]["escalated"] == {"1": 4} and by_camera["A"]["audited"] == 8
    assert by_camera["B"]["refused"] == 3 and by_camera["C"]["refused"] == 0
    card = (release / "README.md").read_text()
    assert "UNAUDITED" not in card
    assert "All 16 crops carry a passing verdict of the privacy audit" in card
    assert "| town | A | 8 | 8 | 4 / 0 / 0 | 0 | 0 |" in card
    assert "| town | B | 4 | 4 | 2 / 0 / 0 | 3 | 0 |" in card
    assert "refused 3 crop(s)" in card
    # Each location's own validation window.
    assert "**city**: minutes 40-50" in card and "**town**: minutes 50-60" in card
    # Unlabelled: the test split has no identities, only distractors.
    assert meta["counts"]["test"]["pids"] == 0
    assert meta["counts"]["test"]["distractor_images"] == meta["counts"]["test"]["images"] > 0
    # The anonymization line is per location.
    assert set(meta["anonymization"]) == {"city", "town"}


def test_results_from_before_refusals_were_recorded_do_not_stop_a_release(tmp_path):
    root = workspace(tmp_path / "ws", b_audited=False)
    folder = root / "stages" / "anonymize"
    folder.mkdir(parents=True)
    # An anonymize result of 0.1: failed crops were kept on disk and marked, no `refused` column.
    pd.DataFrame(
        {
            "location": ["town"],
            "camera": ["B"],
            "crop_path": ["crops/x.jpg"],
            "audit_passed": [True],
        }
    ).to_parquet(folder / "town_B.parquet")
    release = create_release(root, "old", allow_unaudited=True)
    assert json.loads((release / "release.json").read_text())["privacy"]["refused_crops"] == 0
