"""`cyclist-dataset init` on the shared footage folders: the pipeline files it writes are run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support import SHARED_ASSETS, cli

from cyclist_dataset.core.config import load_pipeline
from cyclist_dataset.core.roi import load_roi
from cyclist_dataset.errors import UserError
from cyclist_dataset.tools.init_pipeline import scan, write

RADEBERG = SHARED_ASSETS / "footage" / "radeberg"
MULTICAM = SHARED_ASSETS / "footage" / "multicam_lab"
PLACEHOLDERS = {
    "Testvideo_Cars-Cyclist_FR20_2020-01-01_00-00-00",
    "Testvideo_Cars-Truck_FR20_2020-01-01_00-00-00",
}


def test_radeberg_start_times_come_from_the_names_and_placeholders_are_listed(tmp_path):
    out = tmp_path / "radeberg.toml"
    made = cli(
        "init",
        str(RADEBERG),
        "--location",
        "radeberg",
        "--timezone",
        "Europe/Berlin",
        "--out",
        str(out),
    )
    assert made.returncode == 0, made.stderr
    assert "2 video(s) need a start time" in made.stdout
    for stem in PLACEHOLDERS:
        assert f"{stem}.mp4: 2 videos of cam1 would start at 2020-01-01 00:00:00" in made.stdout
    config = load_pipeline(out)
    assert [c.id for c in config.cameras] == ["cam1"]
    # every other clip, with the time its name gives, in the location's zone
    names = {Path(v.source_name).stem: v for v in config.videos}
    assert len(names) == 5 and not set(names) & PLACEHOLDERS
    for stem, video in names.items():
        assert video.start_time is not None
        assert video.start_time.strftime("%Y-%m-%d_%H-%M-%S") == stem[-19:]
    assert config.location.timezone == "Europe/Berlin"
    # the placeholders are in the file, commented out, to be given a time
    text = out.read_text(encoding="utf-8")
    for stem in PLACEHOLDERS:
        assert f'# path = "{RADEBERG.resolve() / stem}.mp4"' in text
    # the ROI stub covers the whole frame, and the pipeline's own commands accept it all
    roi = load_roi(config.roi_path("cam1"))
    assert (roi.image_width, roi.image_height) == (800, 600) and roi.area.area == 800 * 600
    checked = cli("roi", "check", str(out))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    ingested = cli("run", str(out), "--stages", "ingest", timeout=120)
    assert ingested.returncode == 0, ingested.stderr
    assert len(list((tmp_path / "workspace" / "radeberg" / "manifests" / "videos").iterdir())) == 5


def test_multicam_cameras_from_the_names_and_one_start_time_for_all(tmp_path):
    found = scan(MULTICAM)
    assert [v.camera for v in found.videos] == ["cam0", "cam1", "cam2", "cam3"]
    assert found.timed == [] and all(
        "no time in the file name" in v.why_no_time for v in found.untimed
    )
    out = tmp_path / "lab.toml"
    made = cli(
        "init",
        str(MULTICAM),
        "--location",
        "lab",
        "--out",
        str(out),
        "--start-time",
        "2024-05-06T10:20:00",
    )
    assert made.returncode == 0, made.stderr
    config = load_pipeline(out)
    assert [(v.camera, v.start_time.isoformat()) for v in config.videos] == [
        (f"cam{k}", "2024-05-06T10:20:00") for k in range(4)
    ]
    for camera in config.cameras:
        roi = json.loads(config.roi_path(camera.id).read_text())
        assert (roi["image_width"], roi["image_height"]) == (1288, 728)
    assert cli("roi", "check", str(out)).returncode == 0


def link(target: Path, source: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source)
    return target


def test_sub_folders_are_cameras_and_unreadable_files_are_listed(tmp_path):
    footage = tmp_path / "footage"
    link(
        footage / "north" / "a_2020-02-20_13-11-00.mp4",
        RADEBERG / "Testvideo_FR20_2020-02-20_13-11-00.mp4",
    )
    link(
        footage / "south" / "day1" / "b_2020-02-20_13-00-00.mp4",
        RADEBERG / "Testvideo_FR20_2020-02-20_13-00-00.mp4",
    )
    (footage / "south" / "broken_2020-02-20_14-00-00.mp4").write_bytes(b"not a video")
    found = scan(footage)
    assert {v.camera for v in found.videos} == {"north", "south_day1"}
    assert [p.name for p, _ in found.unreadable] == ["broken_2020-02-20_14-00-00.mp4"]
    # the camera pattern, when given, decides instead
    found = scan(footage, camera_pattern=r"^([ab])_")
    assert sorted(v.camera for v in found.videos) == ["a", "b"]
    made = cli("init", str(footage), "--location", "town", "--out", str(tmp_path / "town.toml"))
    assert made.returncode == 0, made.stderr
    assert "1 file(s) could not be read" in made.stdout and "broken_2020" in made.stdout


def test_nothing_is_written_when_something_is_wrong(tmp_path):
    footage = tmp_path / "footage"
    # two frame sizes under one camera: not one view
    link(footage / "x_2020-02-20_13-11-00.mp4", RADEBERG / "Testvideo_FR20_2020-02-20_13-11-00.mp4")
    link(footage / "y_2020-02-20_13-12-00.mp4", MULTICAM / "cam0.mp4")
    out = tmp_path / "site" / "town.toml"
    with pytest.raises(UserError, match=r"camera cam1: its videos have different frame sizes"):
        write(scan(footage), "town", "UTC", out, tmp_path / "site" / "roi")
    assert not (tmp_path / "site").exists() or not any((tmp_path / "site").rglob("*"))
    # an existing pipeline file is kept unless --force
    shutil.rmtree(footage)
    link(footage / "x_2020-02-20_13-11-00.mp4", RADEBERG / "Testvideo_FR20_2020-02-20_13-11-00.mp4")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("mine")
    refused = cli("init", str(footage), "--location", "town", "--out", str(out))
    assert refused.returncode == 2 and "exists; give --force" in refused.stderr
    assert out.read_text() == "mine" and not (out.parent / "roi_definitions").exists()
    # bad input says which option and what to do
    for args, message in [
        (["--location", "two words"], "--location/--timezone"),
        (["--location", "town", "--timezone", "Mars/Base"], "unknown time zone"),
        (["--location", "town", "--camera-pattern", "cam"], "needs a group"),
    ]:
        result = cli("init", str(footage), *args, "--out", str(tmp_path / "o.toml"))
        assert result.returncode == 2 and message in result.stderr, result.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli("init", str(empty), "--location", "town", "--out", str(tmp_path / "o.toml"))
    assert result.returncode == 2 and "no video files under it" in result.stderr
    assert not (tmp_path / "o.toml").exists()
