"""Reading other tools' detection files (``backend = "import"``) on small synthetic files: box
conventions per format and version, class mapping, checks against the video, clear errors."""

from __future__ import annotations

import bz2
import json
from pathlib import Path

import numpy as np
import pytest
import shapely

from cyclist_dataset.core.config import FilterConfig, ImportConfig, PipelineConfig
from cyclist_dataset.core.detections import Detections
from cyclist_dataset.core.roi import Roi
from cyclist_dataset.errors import UserError
from cyclist_dataset.stages.detect import import_detections
from cyclist_dataset.stages.detect.imported import VideoShape, read_detections
from cyclist_dataset.stages.filter import drop_reasons

VIDEO = VideoShape(width=800, height=600, fps=20.0, frame_count=100)
# Two boxes in frame 3 (1-based): a pedestrian and a bicyclist, as x1, y1, x2, y2.
PEDESTRIAN = [100.0, 200.0, 140.0, 300.0]
BICYCLIST = [400.0, 150.0, 470.0, 330.0]


def otdet(path: Path, version: str = "1.3", normalized: bool = False, **video) -> Path:
    def entry(name: str, score: float, box: list[float]) -> dict:
        x1, y1, x2, y2 = box
        x, y, w, h = x1, y1, x2 - x1, y2 - y1
        if version == "1.0":
            x, y = x + w / 2, y + h / 2
        if normalized:
            x, y, w, h = x / 800, y / 600, w / 800, h / 600
        return {"class": name, "confidence": score, "x": x, "y": y, "w": w, "h": h}

    meta_video = {
        "width": 800,
        "height": 600,
        "recorded_fps": 20.0,
        "number_of_frames": 100,
        **video,
    }
    content = {
        "metadata": {
            "otdet_version": version,
            "video": meta_video,
            "detection": {
                "model": {"name": "YOLOv8", "weights": "otc_v1.pt", "classes": {}},
                "normalized_bbox": normalized,
            },
        },
        "data": {
            "1": {"detections": []},
            "3": {
                "detections": [
                    entry("pedestrian", 0.9, PEDESTRIAN),
                    entry("bicyclist", 0.8, BICYCLIST),
                    entry("car", 0.95, [0, 0, 50, 50]),
                ]
            },
        },
    }
    with bz2.open(path, "wt", encoding="utf-8") as handle:
        json.dump(content, handle)
    return path


def config(**overrides) -> ImportConfig:
    return ImportConfig(format="otdet", files="{stem}.otdet", **overrides)


@pytest.mark.parametrize("version", ["1.0", "1.1", "1.2", "1.3"])
@pytest.mark.parametrize("normalized", [False, True])
def test_otdet_boxes_by_version_and_normalization(tmp_path, version, normalized):
    found = read_detections(otdet(tmp_path / "v.otdet", version, normalized), config(), VIDEO)
    assert list(found.frames) == [2]  # frame "3" is 1-based; frame "1" has no box
    boxes = found.frames[2]
    assert boxes.class_name.tolist() == ["person", "cyclist"]  # the car is not mapped
    np.testing.assert_allclose(boxes.xyxy, [PEDESTRIAN, BICYCLIST], atol=1e-3)
    assert found.source == "import:otdet:v.otdet (YOLOv8 otc_v1.pt)"


@pytest.mark.parametrize("version", ["0.9", "1.4", "2.0", "one"])
def test_otdet_versions_without_a_confirmed_box_convention_are_refused(tmp_path, version):
    with pytest.raises(UserError, match="otdet_version"):
        read_detections(otdet(tmp_path / "v.otdet", version), config(), VIDEO)


@pytest.mark.parametrize(
    ("video", "message"),
    [
        ({"width": 1920, "height": 1080}, "frame size 1920x1080, the video's is 800x600"),
        ({"recorded_fps": 25.0}, "25 fps, the video has 20"),
        ({"number_of_frames": 250}, "250 frames, the video has 100"),
    ],
)
def test_otdet_of_another_video_is_refused(tmp_path, video, message):
    with pytest.raises(UserError, match=message):
        read_detections(otdet(tmp_path / "v.otdet", **video), config(), VIDEO)


def test_not_an_otdet_file(tmp_path):
    plain = tmp_path / "plain.otdet"
    plain.write_text("{}")
    with pytest.raises(UserError, match="not a bz2-compressed"):
        read_detections(plain, config(), VIDEO)
    with bz2.open(tmp_path / "empty.otdet", "wt") as handle:
        json.dump({"data": {}}, handle)
    with pytest.raises(UserError, match="metadata"):
        read_detections(tmp_path / "empty.otdet", config(), VIDEO)


def mot(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_mot_rows_with_and_without_a_class(tmp_path):
    path = mot(
        tmp_path / "det.txt",
        [
            "3,-1,100,200,40,100,0.9",  # no class: mot_class (person)
            "3,-1,400,150,70,180,0.8,2",  # class 2: bicycle by the class map
            "4,-1,100,200,40,100,0.7,-1,-1,-1",  # MOTChallenge's 10 columns: no class
            "4,-1,10,20,40,100,0.6,7",  # a class the map does not name: left out
            "",
        ],
    )
    mapping = ImportConfig(format="mot", files="{stem}.txt", class_map={"2": "bicycle"})
    found = read_detections(path, mapping, VIDEO)
    assert sorted(found.frames) == [2, 3]
    assert found.frames[2].class_name.tolist() == ["person", "bicycle"]
    np.testing.assert_array_equal(found.frames[2].xyxy[1], [400, 150, 470, 330])
    assert found.frames[3].class_name.tolist() == ["person"]
    np.testing.assert_allclose(found.frames[3].score, [0.7])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("3,-1,100,200,40", "line 2: 5 columns"),
        ("3,-1,100,abc,40,100,0.9", "line 2: .* must be numbers"),
        ("3,-1,100,200,0,100,0.9", "line 2: a box needs"),
        ("0,-1,100,200,40,100,0.9", "line 2: frame 0 is not a frame of the video"),
        ("500,-1,100,200,40,100,0.9", "line 2: frame 500 is not a frame"),
        ("101,-1,100,200,40,100,0.9", "line 2: frame 101 is not a frame of the video .1-100"),
        ("inf,-1,100,200,40,100,0.9", "line 2: frame 'inf' is not a frame number"),
        ("3.5,-1,100,200,40,100,0.9", "line 2: frame '3.5' is not a frame number"),
        ("3,-1,100,200,40,100,nan", "line 2: a box needs finite numbers"),
        ("3,-1,900,200,40,100,0.9", "outside the 800x600 video"),
    ],
)
def test_mot_errors_name_the_line(tmp_path, line, message):
    path = mot(tmp_path / "det.txt", ["1,-1,10,10,40,100,0.9", line])
    with pytest.raises(UserError, match=message):
        read_detections(path, ImportConfig(format="mot", files="{stem}.txt"), VIDEO)


def test_classes_the_map_does_not_name_are_counted_and_a_file_of_only_those_refused(tmp_path):
    lines = [
        "3,-1,100,200,40,100,0.9,car",
        "3,-1,400,150,70,180,0.8,person",
        "4,-1,1,1,9,9,0.5,car",
    ]
    config = ImportConfig(format="mot", files="{stem}.txt")
    found = read_detections(mot(tmp_path / "det.txt", lines), config, VIDEO)
    assert found.left_out == {"car": 2}
    assert [len(d) for d in found.frames.values()] == [1]
    only_cars = mot(tmp_path / "cars.txt", [lines[0], lines[2]])
    with pytest.raises(UserError, match=r"none of its classes \['car'\] is in detect.class_map"):
        read_detections(only_cars, config, VIDEO)


def test_a_binary_file_read_as_mot_is_a_clear_error(tmp_path):
    path = otdet(tmp_path / "v.otdet")
    with pytest.raises(UserError, match="not a text file.*detect.format"):
        read_detections(path, ImportConfig(format="mot", files="{stem}.txt"), VIDEO)


def otdet_content(tmp_path: Path, change) -> Path:
    """An .otdet file of ``otdet()`` with its JSON changed by ``change``."""
    path = otdet(tmp_path / "v.otdet")
    with bz2.open(path, "rt") as handle:
        content = json.load(handle)
    change(content)
    with bz2.open(path, "wt") as handle:
        json.dump(content, handle)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.update(data=[]), "not an .otdet file"),
        (lambda c: c["metadata"].update(detection="yolo"), "not an .otdet file"),
        (lambda c: c["data"]["3"]["detections"][0].update(w=-5), "a box needs finite numbers"),
        (lambda c: c["data"]["3"]["detections"][0].update(confidence="high"), "must be numbers"),
        (lambda c: c["data"]["3"]["detections"][0].pop("class"), "needs a class"),
        (lambda c: c["data"].update({"x": {"detections": []}}), "'x' is not a frame number"),
        (lambda c: c["data"].update({"101": {"detections": []}}), "frame 101 is not a frame"),
        (lambda c: c["data"].update({"5": []}), r"data\['5'\]: a frame is"),
    ],
)
def test_broken_otdet_content_is_a_clear_error(tmp_path, change, message):
    with pytest.raises(UserError, match=message):
        read_detections(otdet_content(tmp_path, change), config(), VIDEO)


def test_mot_seqinfo_must_describe_the_video(tmp_path):
    (tmp_path / "det").mkdir()
    path = mot(tmp_path / "det" / "det.txt", ["1,-1,10,10,40,100,0.9"])
    (tmp_path / "seqinfo.ini").write_text(
        "[Sequence]\nname=x\nframeRate=30\nseqLength=100\nimWidth=800\nimHeight=600\n"
    )
    with pytest.raises(UserError, match="seqinfo.ini does not describe this video: 30 fps"):
        read_detections(path, ImportConfig(format="mot", files="{stem}.txt"), VIDEO)
    (tmp_path / "seqinfo.ini").write_text(
        "[Sequence]\nname=x\nframeRate=20\nseqLength=100\nimWidth=800\nimHeight=600\n"
    )
    found = read_detections(path, ImportConfig(format="mot", files="{stem}.txt"), VIDEO)
    assert found.source.startswith("import:mot:") and found.source.endswith("det/det.txt")


def test_a_cyclist_box_is_its_own_bicycle_and_persons_pair_as_detected(tmp_path):
    path = mot(
        tmp_path / "det.txt",
        [
            "3,-1,400,150,70,180,0.8,bicyclist",
            "3,-1,100,200,40,100,0.9,person",
            "3,-1,95,240,50,70,0.7,bicycle",
        ],
    )
    table, _ = import_detections(path, ImportConfig(format="mot", files="{stem}.txt"), "v", VIDEO)
    rows = table.to_pylist()
    assert [r["class_name"] for r in rows] == ["cyclist", "person", "bicycle"]
    assert rows[0]["bicycle_detection_id"] == rows[0]["detection_id"]  # its own box
    assert rows[0]["bicycle_x1"] == rows[0]["x1"]
    assert rows[1]["bicycle_detection_id"] == rows[2]["detection_id"]  # paired as detected
    assert rows[2]["bicycle_detection_id"] is None
    assert {r["timestamp_s"] for r in rows} == {2 / 20.0}
    with pytest.raises(UserError, match="sample_fps"):
        import_detections(
            path,
            ImportConfig(format="mot", files="{stem}.txt", sample_fps=5),
            "v",
            VIDEO,
            sampled=[0, 4],
        )


def pipeline(detect: dict, filter_: dict | None = None) -> PipelineConfig:
    return PipelineConfig.model_validate(
        {
            "workspace": "ws",
            "roi_dir": "roi",
            "location": {"name": "here", "timezone": "UTC"},
            "cameras": [{"id": "cam1"}],
            "videos": [{"camera": "cam1", "path": "v.mp4", "start_time": "2020-01-01T10:00:00"}],
            "detect": {"backend": "import", **detect},
            **({"filter": filter_} if filter_ is not None else {}),
        }
    )


def test_an_import_needs_a_filter_score_and_files_per_video():
    with pytest.raises(ValueError, match="set \\[filter\\] score_min"):
        pipeline({"format": "otdet", "files": "{stem}.otdet"})
    with pytest.raises(ValueError, match="with \\{video_id\\} or \\{stem\\}"):
        pipeline({"format": "otdet", "files": "all.otdet"}, {"score_min": 0.5})
    with pytest.raises(ValueError, match="only \\{video_id\\} and \\{stem\\}"):
        pipeline({"format": "otdet", "files": "{camera}/{stem}.otdet"}, {"score_min": 0.5})
    with pytest.raises(ValueError, match="format"):
        pipeline({"format": "csv", "files": "{stem}.csv"}, {"score_min": 0.5})


def test_imported_cyclists_are_riders_and_a_filter_that_would_drop_them_is_refused():
    made = pipeline({"format": "otdet", "files": "{stem}.otdet"}, {"score_min": 0.5})
    assert made.filter.classes == ("person", "cyclist")
    assert made.detect.file_for("v", "/x/v.mp4") == Path("v.otdet")  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="add it: classes = \\['person', 'cyclist'\\]"):
        pipeline(
            {"format": "otdet", "files": "{stem}.otdet"}, {"score_min": 0.5, "classes": ["person"]}
        )
    no_cyclists = pipeline(
        {"format": "otdet", "files": "{stem}.otdet", "class_map": {"pedestrian": "person"}},
        {"score_min": 0.5, "classes": ["person"]},
    )
    assert no_cyclists.filter.classes == ("person",)


def test_a_cyclist_box_is_not_held_to_the_riders_aspect_ratio():
    side_on = np.array([[100, 100, 220, 200]], np.float32)  # w/h 1.2: rider and bicycle
    rule = FilterConfig(score_min=0.5, max_aspect_ratio=0.75, min_width_px=10)
    whole = Roi(shapely.box(0, 0, 800, 600), 800, 600)
    for name, reason in (("cyclist", None), ("person", "aspect_ratio")):
        found = Detections(side_on, np.array([0.9], np.float32), np.array([name], dtype=object))
        config = rule.model_copy(update={"classes": ("person", "cyclist")})
        assert drop_reasons(found, whole, config).tolist() == [reason]
