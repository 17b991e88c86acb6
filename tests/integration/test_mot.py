"""MOTChallenge I/O, the tracker over MOT files, TrackEval metrics and the two commands."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import trackeval
import typer
from support import SHARED_ASSETS
from typer.testing import CliRunner

from cyclist_dataset.cli.tracking import eval_tracks, track_mot
from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.mot import (
    format_mot,
    read_mot,
    write_mot,
)
from cyclist_dataset.tools.track_eval import choose_benchmark, evaluate
from cyclist_dataset.tools.track_mot import track_detections, tracklets_to_mot

MOT = SHARED_ASSETS / "mot"
MOT17_FILES = sorted((MOT / "MOT17-mini").glob("*/gt/gt.txt")) + sorted(
    (MOT / "MOT17-mini").glob("*/det/det.txt")
)
TUD_FILES = [MOT / s / f for s in ("TUD-Campus", "TUD-Stadtmitte") for f in ("gt.txt", "test.txt")]


def cli_app() -> typer.Typer:
    """The two commands registered the way cli.py registers them."""
    app = typer.Typer()
    app.command("track-mot")(track_mot)
    app.command("eval-tracks")(eval_tracks)
    return app


def test_mot_files_are_there():
    assert len(MOT17_FILES) == 6 and all(f.is_file() for f in TUD_FILES)


@pytest.mark.parametrize("path", MOT17_FILES + TUD_FILES, ids=lambda p: "/".join(p.parts[-3:]))
def test_round_trip_is_lossless_and_byte_identical(path, tmp_path):
    first = read_mot(path)
    write_mot(first, tmp_path / "out.txt")
    second = read_mot(tmp_path / "out.txt")
    pd.testing.assert_frame_equal(first, second, check_exact=True)
    assert (tmp_path / "out.txt").read_bytes() == path.read_bytes()
    assert first.index[0] == 1 and first["frame"].min() >= 1


def test_columns_and_types():
    gt = read_mot(MOT / "MOT17-mini" / "MOT17-09-FRCNN" / "gt" / "gt.txt")
    assert list(gt.columns) == ["frame", "id", "x", "y", "w", "h", "conf", "col8", "col9"]
    assert (
        gt["frame"].dtype == np.int64 and gt["id"].dtype == np.int64 and gt["x"].dtype == np.float64
    )
    det = read_mot(MOT / "MOT17-mini" / "MOT17-09-FRCNN" / "det" / "det.txt")
    assert (
        list(det.columns) == ["frame", "id", "x", "y", "w", "h", "conf"] and (det["id"] == -1).all()
    )


def test_integral_floats_keep_their_style_per_column(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("1,1,10,20.5,30,40,1.0,-1,-1,-1\n2,1,11,21,30,40,0.25,-1,-1,-1\n")
    frame = read_mot(source)
    assert format_mot(frame) == source.read_text()
    # Canonical text (what TrackEval is given) writes every integral value without ".0".
    assert format_mot(frame, canonical=True).splitlines()[0] == "1,1,10,20.5,30,40,1,-1,-1,-1"
    # Values that are not in shortest form still read back identically, only not byte for byte.
    (tmp_path / "long.txt").write_text("1,1,10.50,20,30,40,1\n")
    write_mot(read_mot(tmp_path / "long.txt"), tmp_path / "long2.txt")
    assert (tmp_path / "long2.txt").read_text() == "1,1,10.5,20,30,40,1\n"


@pytest.mark.parametrize(
    "text, message",
    [
        ("1,1,10,20,30\n", r"bad\.txt:1: expected 7 to 10"),
        (
            "1,1,10,20,30,40,1\n2,1,10,20,30,40\n",
            r"bad\.txt:2: 6 values, but the file's first line has 7",
        ),
        (
            "1,1,10,20,30,40,1\n\n3,1,10,x,30,40,1\n",
            r"bad\.txt:3: value 4 \('x'\) is not a finite number",
        ),
        ("0,1,10,20,30,40,1\n", r"bad\.txt:1: frame '0' is not a whole number >= 1"),
        ("1.5,1,10,20,30,40,1\n", r"bad\.txt:1: frame '1.5'"),
        ("1,2.5,10,20,30,40,1\n", r"bad\.txt:1: id '2.5' is not a whole number"),
        ("1,1,10,nan,30,40,1\n", r"bad\.txt:1: value 4 \('nan'\)"),
        ("\n\n", r"bad\.txt: no boxes"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, message):
    (tmp_path / "bad.txt").write_text(text)
    with pytest.raises(UserError, match=message):
        read_mot(tmp_path / "bad.txt")


def test_missing_file():
    with pytest.raises(UserError, match="MOT file not found"):
        read_mot("/nonexistent/det.txt")


# --- the tracker over MOT detections -------------------------------------------------------------


def synthetic_det(tmp_path: Path) -> Path:
    """Two pedestrians walking towards each other at 25 fps for 40 frames; person A is missed in
    frames 10-12 and scores low (0.2) in frames 20-24."""
    lines = []
    for f in range(1, 41):
        if not 10 <= f <= 12:
            conf = 0.2 if 20 <= f <= 24 else 0.9
            lines.append(f"{f},-1,{100 + 4 * f},100,50,120,{conf}")
        lines.append(f"{f},-1,{600 - 4 * f},300,50,120,0.8")
    (tmp_path / "det.txt").write_text("\n".join(lines) + "\n")
    return tmp_path / "det.txt"


def test_track_detections(tmp_path):
    det = read_mot(synthetic_det(tmp_path))
    no_low_pass = TrackConfig(max_gap_s=0.0, low_score_min=None)
    tracks = track_detections(det, 25.0, no_low_pass, score_min=0.5)
    # A without the 5 low-score frames
    assert sorted(tracks.groupby("id").size().tolist()) == [
        32,
        40,
    ]
    # Gaps up to 0.3 s are filled: both of A's (0.16 s and 0.24 s).
    filled = track_detections(det, 25.0, TrackConfig(low_score_min=None), score_min=0.5)
    assert (
        sorted(filled.groupby("id").size().tolist()) == [40, 40]
        and (filled["conf"] == -1).sum() == 8
    )
    # By default the low-score pass (from 0.1) takes A's 5 low boxes: only the miss is filled.
    default = track_detections(det, 25.0, score_min=0.5)
    assert sorted(default.groupby("id").size().tolist()) == [40, 40]
    assert (default["conf"] == -1).sum() == 3 and (default["conf"] == 0.2).sum() == 5
    # Every matched box keeps its original values; ids by first appearance.
    a = tracks[tracks["id"] == 1]
    assert a["x"].tolist()[:3] == [104.0, 108.0, 112.0] and a["conf"].iloc[0] == 0.9
    both = track_detections(det, 25.0, TrackConfig(low_score_min=0.1, max_gap_s=0.2), score_min=0.5)
    a = both[both["id"] == 1]
    assert a["frame"].tolist() == list(range(1, 41))
    filled = a[a["frame"].between(10, 12)]
    assert filled["conf"].tolist() == [-1.0] * 3 and filled["x"].tolist() == [140.0, 144.0, 148.0]
    assert a.loc[a["frame"].between(20, 24), "conf"].tolist() == [0.2] * 5
    assert list(both.columns) == [
        "frame",
        "id",
        "x",
        "y",
        "w",
        "h",
        "conf",
        "col8",
        "col9",
        "col10",
    ]
    # Without a score threshold every box is tracked, whatever its conf.
    assert len(track_detections(det, 25.0, TrackConfig(max_gap_s=0.0))) == 77


def test_track_detections_rejects_empty_boxes(tmp_path):
    (tmp_path / "det.txt").write_text("1,-1,10,20,30,40,1\n2,-1,10,20,0,40,1\n")
    with pytest.raises(UserError, match=r"det\.txt:2: box width and height must be positive"):
        track_detections(read_mot(tmp_path / "det.txt"), 25.0, source=str(tmp_path / "det.txt"))


def test_tracklets_manifest_to_mot():
    rows = pd.DataFrame(
        {
            "tracklet_id": ["v_t0001", "v_t0001", "v_t0002", "w_t0001"],
            "video_id": ["v", "v", "v", "w"],
            "frame_index": [0, 1, 1, 0],
            "x1": np.float32([10.1, 11.2, 50.0, 1.0]),
            "y1": np.float32([20.0, 20.0, 60.0, 1.0]),
            "x2": np.float32([40.1, 41.2, 90.0, 2.0]),
            "y2": np.float32([80.0, 80.0, 160.0, 2.0]),
            "score": pd.array([0.9, None, 0.7, 0.5], dtype="Float32"),
        }
    )
    mot = tracklets_to_mot(rows, "v")
    assert format_mot(mot) == (
        "1,1,10.1,20,30,60,0.9,-1,-1,-1\n"
        "2,1,11.2,20,30,60,-1,-1,-1,-1\n"
        "2,2,50,60,40,100,0.7,-1,-1,-1\n"
    )
    cvat = tracklets_to_mot(rows, "v", for_cvat=True)
    assert format_mot(cvat).splitlines()[0] == "1,1,10.1,20,30,60,1,1,1"
    with pytest.raises(ValueError, match="pass video_id"):
        tracklets_to_mot(rows)


# --- metrics -------------------------------------------------------------------------------------


def trackeval_directly(tmp_path: Path, gt: Path, pred: Path, seq: str, length: int) -> dict:
    """TrackEval as its README and scripts/run_mot_challenge.py use it: the MOTChallenge folder
    layout, a seqmap, default configs, the HOTA, CLEAR and Identity metrics."""
    gt_root, trackers = (
        tmp_path / "data" / "gt" / "mot_challenge",
        tmp_path / "data" / "trackers" / "mot_challenge",
    )
    (gt_root / "MOT15-train" / seq / "gt").mkdir(parents=True)
    shutil.copy(gt, gt_root / "MOT15-train" / seq / "gt" / "gt.txt")
    (gt_root / "MOT15-train" / seq / "seqinfo.ini").write_text(
        f"[Sequence]\nname={seq}\nseqLength={length}\n"
    )
    (gt_root / "seqmaps").mkdir()
    (gt_root / "seqmaps" / "MOT15-train.txt").write_text(f"name\n{seq}\n")
    (trackers / "MOT15-train" / "mine" / "data").mkdir(parents=True)
    shutil.copy(pred, trackers / "MOT15-train" / "mine" / "data" / f"{seq}.txt")

    eval_config = trackeval.Evaluator.get_default_eval_config()
    dataset_config = trackeval.datasets.MotChallenge2DBox.get_default_dataset_config()
    dataset_config.update(
        {"GT_FOLDER": str(gt_root), "TRACKERS_FOLDER": str(trackers), "BENCHMARK": "MOT15"}
    )
    metrics_config = {"METRICS": ["HOTA", "CLEAR", "Identity"], "THRESHOLD": 0.5}
    with contextlib.redirect_stdout(io.StringIO()):
        evaluator = trackeval.Evaluator(eval_config)
        metrics = [
            trackeval.metrics.HOTA(metrics_config),
            trackeval.metrics.CLEAR(metrics_config),
            trackeval.metrics.Identity(metrics_config),
        ]
        results, _ = evaluator.evaluate(
            [trackeval.datasets.MotChallenge2DBox(dataset_config)], metrics
        )
    return results["MotChallenge2DBox"]["mine"][seq]["pedestrian"]


def test_eval_matches_trackeval_called_directly(tmp_path):
    gt, pred = MOT / "TUD-Campus" / "gt.txt", MOT / "TUD-Campus" / "test.txt"
    direct = trackeval_directly(tmp_path, gt, pred, "TUD-Campus", 71)
    ours = evaluate(gt, pred)
    assert (ours.benchmark, ours.seq_length) == ("MOT15", 71)
    assert ours.hota == np.mean(direct["HOTA"]["HOTA"])
    assert ours.idf1 == direct["Identity"]["IDF1"]
    assert ours.mota == direct["CLEAR"]["MOTA"]
    assert (
        ours.id_switches == direct["CLEAR"]["IDSW"]
        and ours.fragmentations == direct["CLEAR"]["Frag"]
    )
    # The command prints the same numbers.
    result = CliRunner().invoke(cli_app(), ["eval-tracks", "--gt", str(gt), "--pred", str(pred)])
    assert result.exit_code == 0, result.output
    printed = dict(re.findall(r"^(HOTA|IDF1|MOTA|IDSW|Frag)\s+(\S+)$", result.output, re.M))
    assert printed == {
        "HOTA": f"{ours.hota:.4f}",
        "IDF1": f"{ours.idf1:.4f}",
        "MOTA": f"{ours.mota:.4f}",
        "IDSW": str(direct["CLEAR"]["IDSW"]),
        "Frag": str(int(direct["CLEAR"]["Frag"])),
    }
    # pinned, as computed by TrackEval 1.3
    assert printed["HOTA"] == "0.3914" and printed["IDSW"] == "7"


@pytest.mark.parametrize("seq", ["TUD-Campus", "TUD-Stadtmitte"])
def test_ground_truth_against_itself_is_perfect(seq):
    scores = evaluate(MOT / seq / "gt.txt", MOT / seq / "gt.txt")
    assert scores.hota == scores.idf1 == scores.mota == scores.purity == 1.0
    assert scores.id_switches == 0 and scores.fragmentations == 0


def test_mot17_rules_and_seqinfo_length():
    gt = MOT / "MOT17-mini" / "MOT17-02-FRCNN" / "gt" / "gt.txt"
    assert choose_benchmark(read_mot(gt)) == "MOT17"
    assert choose_benchmark(read_mot(MOT / "TUD-Campus" / "gt.txt")) == "MOT15"
    pedestrians = read_mot(gt).query("col8 == 1 and conf == 1")
    scores = evaluate(gt, pedestrians.assign(col8=-1.0, col9=-1.0))
    assert scores.seq_length == 600  # from MOT17-02-FRCNN/seqinfo.ini
    assert scores.idf1 == 1.0 and scores.id_switches == 0


def test_eval_errors_are_user_errors(tmp_path):
    (tmp_path / "pred.txt").write_text("1,1,10,20,30,40,1,-1,-1,-1\n1,1,50,20,30,40,1,-1,-1,-1\n")
    with pytest.raises(UserError, match=r"pred\.txt:2: track id 1 appears twice in frame 1"):
        evaluate(MOT / "TUD-Campus" / "gt.txt", tmp_path / "pred.txt")
    (tmp_path / "late.txt").write_text("900,1,10,20,30,40,1,-1,-1,-1\n")
    with pytest.raises(UserError, match="past the sequence's last frame 600"):
        evaluate(MOT / "MOT17-mini" / "MOT17-02-FRCNN" / "gt" / "gt.txt", tmp_path / "late.txt")


def test_track_mot_command(tmp_path):
    det = synthetic_det(tmp_path)
    out = tmp_path / "pred" / "tracks.txt"
    result = CliRunner().invoke(
        cli_app(),
        [
            "track-mot",
            str(det),
            "--fps",
            "25",
            "--out",
            str(out),
            "--score-min",
            "0.5",
            "--low-score-min",
            "0.1",
            "--max-gap-s",
            "0.2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "2 tracks, 80 boxes" in result.output
    tracks = read_mot(out)
    assert tracks.groupby("id").size().tolist() == [40, 40]
    # The written tracks score perfectly against the path they came from.
    truth = tracks.assign(conf=1.0)
    assert evaluate(truth, out, seq_length=40).idf1 == 1.0


def test_track_mot_command_errors(tmp_path):
    det = synthetic_det(tmp_path)
    result = CliRunner().invoke(
        cli_app(),
        [
            "track-mot",
            str(det),
            "--fps",
            "25",
            "--out",
            str(tmp_path / "o.txt"),
            "--iou-min",
            "0.95",
        ],
    )
    assert isinstance(result.exception, UserError)
    assert "iou_min (0.95) must not exceed iou_max (0.9)" in str(result.exception)
    result = CliRunner().invoke(
        cli_app(),
        [
            "track-mot",
            str(det),
            "--fps",
            "25",
            "--out",
            str(tmp_path / "o.txt"),
            "--expiration-s",
            "0",
        ],
    )
    assert "--expiration-s: Input should be greater than 0" in str(result.exception)
    (tmp_path / "bad.txt").write_text("1,-1,10,20\n")
    result = CliRunner().invoke(
        cli_app(),
        ["track-mot", str(tmp_path / "bad.txt"), "--fps", "25", "--out", str(tmp_path / "o.txt")],
    )
    assert isinstance(result.exception, UserError) and "bad.txt:1" in str(result.exception)
    help_text = CliRunner().invoke(cli_app(), ["track-mot", "--help"]).output
    assert (
        "--low-score-min" in help_text and "--max-gap-s" in help_text and "--min-boxes" in help_text
    )
