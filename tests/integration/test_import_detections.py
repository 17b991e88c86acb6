"""Detections from other tools: the demo's own detections, written as OpenTrafficCam .otdet and as
MOTChallenge det.txt files, imported by a pipeline (``backend = "import"``), give exactly the
tracklets the detector gave, and the manifests name the files."""

from __future__ import annotations

import bz2
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from support import CYCLIST_VIDEO, DEMO, cli

from cyclist_dataset.core.config import PipelineConfig, load_pipeline
from cyclist_dataset.io.workspace import Workspace, read_result
from cyclist_dataset.pipeline.run import run_pipeline

TRACK_STAGES = ("ingest", "detect", "filter", "track")
MOT_CLASSES = {"person": 1, "bicycle": 2}


def write_otdet(detections: pd.DataFrame, video: dict, path: Path, version: str = "1.3") -> None:
    """One video's detections as OTVision writes them: 1-based frames, x/y the top-left corner
    (the centre in version 1.0)."""
    data: dict[str, dict] = {str(i + 1): {"detections": []} for i in range(video["frame_count"])}
    for row in detections.itertuples():
        w, h = float(row.x2) - float(row.x1), float(row.y2) - float(row.y1)
        x, y = float(row.x1), float(row.y1)
        if version == "1.0":
            x, y = x + w / 2, y + h / 2
        data[str(row.frame_index + 1)]["detections"].append(
            {
                "class": row.class_name,
                "confidence": float(row.score),
                "x": x,
                "y": y,
                "w": w,
                "h": h,
            }
        )
    content = {
        "metadata": {
            "otdet_version": version,
            "video": {
                "filename": Path(video["path"]).stem,
                "width": video["width"],
                "height": video["height"],
                "recorded_fps": video["fps"],
                "number_of_frames": video["frame_count"],
            },
            "detection": {
                "model": {"name": "YOLOX-nano", "weights": "yolox_nano.onnx", "classes": {}},
                "normalized_bbox": False,
            },
        },
        "data": data,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with bz2.open(path, "wt", encoding="utf-8") as handle:
        json.dump(content, handle)


def write_mot(detections: pd.DataFrame, video: dict, folder: Path) -> None:
    """One video's detections as a MOTChallenge sequence: det/det.txt (numeric class in the 8th
    column) and seqinfo.ini."""
    (folder / "det").mkdir(parents=True, exist_ok=True)
    lines = [
        ",".join(
            [
                str(row.frame_index + 1),
                "-1",
                repr(float(row.x1)),
                repr(float(row.y1)),
                repr(float(row.x2) - float(row.x1)),
                repr(float(row.y2) - float(row.y1)),
                repr(float(row.score)),
                str(MOT_CLASSES[row.class_name]),
            ]
        )
        for row in detections.itertuples()
    ]
    (folder / "det" / "det.txt").write_text("\n".join(lines) + "\n")
    (folder / "seqinfo.ini").write_text(
        f"[Sequence]\nname={folder.name}\nimDir=img1\nframeRate={video['fps']}\n"
        f"seqLength={video['frame_count']}\nimWidth={video['width']}\nimHeight={video['height']}\n"
        "imExt=.jpg\n"
    )


def import_pipeline(config: PipelineConfig, folder: Path, detect_section: str) -> Path:
    """The demo pipeline with its [detect] section replaced by an import, the filter's score
    threshold it had (an import needs one given) and cyclist boxes among the rider classes."""
    text = DEMO.read_text()
    text = re.sub(r"\[detect\].*?(?=\[runtime\])", detect_section + "\n", text, flags=re.S)
    text = (
        text.replace("[filter]\n", f"[filter]\nscore_min = {config.filter.score_min}\n", 1)
        .replace('classes = ["person"]\n', 'classes = ["person", "cyclist"]\n')
        .replace('roi_dir = "../roi_definitions"', f'roi_dir = "{config.roi_dir}"')
    )
    path = folder / "import.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def exported(demo_run, tmp_path_factory) -> tuple[PipelineConfig, Path]:
    """The demo run's detections, every video, in both formats."""
    config, _ = demo_run
    workspace = Workspace(config.workspace)
    folder = tmp_path_factory.mktemp("exported")
    for video in config.videos:
        meta = read_result(workspace.stage_output("ingest", video.video_id)).to_pylist()[0]
        found = read_result(workspace.stage_output("detect", video.video_id)).to_pandas()
        assert set(found["class_name"]) <= set(MOT_CLASSES)
        write_otdet(found, meta, folder / "otdet" / f"{video.video_id}.otdet")
        write_mot(found, meta, folder / "mot" / video.video_id)
    return config, folder


def tracklets(root: Path) -> pd.DataFrame:
    table = pd.read_parquet(root / "manifests" / "tracklets")
    return table.sort_values(["video_id", "tracklet_id", "frame_index"]).reset_index(drop=True)


@pytest.mark.parametrize(
    "detect_section",
    [
        '[detect]\nbackend = "import"\nformat = "otdet"\nfiles = "otdet/{video_id}.otdet"\n',
        '[detect]\nbackend = "import"\nformat = "mot"\nfiles = "mot/{video_id}/det/det.txt"\n'
        'class_map = { "1" = "person", "2" = "bicycle" }\n',
    ],
    ids=["otdet", "mot"],
)
def test_imported_detections_give_the_detectors_tracklets(exported, detect_section):
    config, folder = exported
    pipeline = import_pipeline(config, folder, detect_section)
    imported = load_pipeline(pipeline, folder / f"workspace_{pipeline.stem}_{len(detect_section)}")
    report = run_pipeline(imported, TRACK_STAGES, log=lambda line: None)
    assert not report.failed, report.failed

    ours, theirs = tracklets(config.workspace), tracklets(imported.workspace)
    assert ours[CYCLIST_VIDEO == ours["video_id"]]["tracklet_id"].nunique() == 1
    pd.testing.assert_frame_equal(
        ours.drop(columns="model"), theirs.drop(columns="model"), check_exact=True
    )
    # The manifests name the file and the model it declares.
    models = set(pd.read_parquet(imported.workspace / "manifests" / "detections")["model"])
    if "otdet" in detect_section:
        assert f"import:otdet:{CYCLIST_VIDEO}.otdet (YOLOX-nano yolox_nano.onnx)" in models
    else:
        assert f"import:mot:{CYCLIST_VIDEO}/det/det.txt" in models

    # The file's content is the detect stage's input: changing one box redoes that video only.
    rerun = run_pipeline(imported, TRACK_STAGES, log=lambda line: None)
    assert not rerun.done
    changed = folder / imported.detect.files.format(video_id=CYCLIST_VIDEO)  # type: ignore[union-attr]
    if changed.suffix == ".otdet":
        with bz2.open(changed, "rt") as handle:
            content = json.load(handle)
        first = next(f for f in content["data"].values() if f["detections"])
        first["detections"][0]["confidence"] = 0.01
        with bz2.open(changed, "wt") as handle:
            json.dump(content, handle)
    else:
        lines = changed.read_text().splitlines()
        parts = lines[0].split(",")
        parts[6] = "0.01"
        changed.write_text("\n".join([",".join(parts), *lines[1:]]) + "\n")
    rerun = run_pipeline(imported, TRACK_STAGES, log=lambda line: None)
    assert {video for _, video in rerun.done} == {CYCLIST_VIDEO}
    assert ("detect", CYCLIST_VIDEO) in rerun.done


def test_bicyclist_boxes_need_no_pairing_and_are_the_crop(demo_run, tmp_path):
    """As if a detector with OpenTrafficCam's `bicyclist` class had run: the rider's boxes of the
    detector's tracklets are `bicyclist` boxes, every other box a pedestrian (bicycles: none). The
    riders become the same tracklets, cyclists with no bicycle box, cropped at those boxes."""
    config, _ = demo_run
    workspace = Workspace(config.workspace)
    ours = tracklets(config.workspace)
    for video in config.videos:
        meta = read_result(workspace.stage_output("ingest", video.video_id)).to_pylist()[0]
        found = read_result(workspace.stage_output("detect", video.video_id)).to_pandas()
        riders = set(ours[ours["video_id"] == video.video_id]["detection_id"].dropna())
        found = found[found["class_name"] == "person"]
        found = found.assign(
            class_name=["bicyclist" if i in riders else "pedestrian" for i in found.index]
        )
        write_otdet(found, meta, tmp_path / "otdet" / f"{video.video_id}.otdet")
    section = '[detect]\nbackend = "import"\nformat = "otdet"\nfiles = "otdet/{video_id}.otdet"\n'
    pipeline = import_pipeline(config, tmp_path, section)
    # the crop with the bicycle: a cyclist box is its own bicycle, so still that box
    pipeline.write_text(
        pipeline.read_text().replace('crop = "rider"', 'crop = "rider_and_bicycle"')
    )
    imported = load_pipeline(pipeline, tmp_path / "workspace")
    assert "cyclist" in imported.filter.classes
    assert imported.anonymize.crop == "rider_and_bicycle"
    report = run_pipeline(imported, TRACK_STAGES + ("anonymize",), log=lambda line: None)
    assert not report.failed, report.failed

    theirs = tracklets(imported.workspace)
    boxes = pd.read_parquet(imported.workspace / "manifests" / "detections")
    classes = boxes.set_index(["video_id", "detection_id"])["class_name"]
    detected = ~theirs["interpolated"]
    rows = theirs[detected].set_index(["video_id", "detection_id"]).index
    assert set(classes.loc[rows]) == {"cyclist"}
    # the cyclist box is its own bicycle: no bicycle detection was needed
    assert (theirs[detected]["bicycle_detection_id"] == theirs[detected]["detection_id"]).all()
    for video_id, rows in ours.groupby("video_id"):
        mine = theirs[theirs["video_id"] == video_id]
        assert mine["tracklet_id"].nunique() == rows["tracklet_id"].nunique() == 1
        assert set(rows["frame_index"]) <= set(mine["frame_index"])
    crops = pd.concat(
        read_result(Workspace(imported.workspace).stage_output("anonymize", v.video_id)).to_pandas()
        for v in imported.videos
    )
    by_frame = theirs.set_index(["video_id", "frame_index"])
    cut = crops.set_index(["video_id", "frame_index"])[["x1", "y1", "x2", "y2"]]
    # crops are cut at whole pixels
    np.testing.assert_allclose(cut, by_frame.loc[cut.index, ["x1", "y1", "x2", "y2"]], atol=1)


def test_a_file_of_another_video_is_a_clear_error(exported, tmp_path):
    config, folder = exported
    workspace = Workspace(config.workspace)
    lengths = {
        v.video_id: read_result(workspace.stage_output("ingest", v.video_id))["frame_count"][0]
        for v in config.videos
    }
    other = next(v for v, n in lengths.items() if n != lengths[CYCLIST_VIDEO])
    # every video's file is the cyclist clip's, which has another length than `other`
    for video_id in lengths:
        target = tmp_path / "wrong" / f"{video_id}.otdet"
        target.parent.mkdir(exist_ok=True)
        target.write_bytes((folder / "otdet" / f"{CYCLIST_VIDEO}.otdet").read_bytes())
    section = '[detect]\nbackend = "import"\nformat = "otdet"\nfiles = "wrong/{video_id}.otdet"\n'
    pipeline = import_pipeline(config, tmp_path, section)
    ran = cli(
        "run", str(pipeline), "--workspace", str(tmp_path / "ws"), "--stages", "ingest,detect"
    )
    assert ran.returncode == 1
    assert f"{other}.otdet does not describe this video" in ran.stderr
    assert f"the video has {lengths[other]}" in ran.stderr
