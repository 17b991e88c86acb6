"""Tracking metrics (HOTA, IDF1, MOTA, ID switches, fragmentations) for one sequence, via TrackEval.

TrackEval reads a MOTChallenge folder layout, so the two files are copied into one in a
temporary folder and evaluated with TrackEval's own MotChallenge2DBox dataset and its HOTA,
CLEAR and Identity metrics: the numbers are TrackEval's, unchanged.

Which MOTChallenge rules apply is decided from the ground truth: when its 8th column holds
MOT16/17/20 class ids (1..13), MOT17 preprocessing (only pedestrians are scored, boxes matched to
distractor classes are ignored, gt rows with conf 0 are ignored); otherwise (MOT15 files such as
TUD-Campus, whose 8th to 10th columns are world coordinates) MOT15's: gt rows with conf 0 are
ignored, nothing else (and the tracks' 8th to 10th columns, world coordinates in MOT15 files, are
not passed on: TrackEval would read the 8th as a class id). The sequence length is ``seqLength``
from a ``seqinfo.ini`` next to the gt file or its folder (the MOTChallenge layout SEQ/gt/gt.txt),
else the last frame of either file.
"""

from __future__ import annotations

import configparser
import contextlib
import io
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cyclist_dataset.errors import UserError
from cyclist_dataset.io.mot import read_mot, write_mot

_MOT17_CLASSES = set(range(1, 14))
_SEQ = "seq"


@dataclass(frozen=True)
class TrackingScores:
    hota: float
    deta: float
    assa: float
    idf1: float
    idp: float
    idr: float
    mota: float
    motp: float
    id_switches: int
    fragmentations: int
    gt_boxes: int
    pred_boxes: int
    gt_ids: int
    pred_ids: int
    benchmark: str  # the MOTChallenge rules applied: MOT15 or MOT17
    seq_length: int

    def as_dict(self) -> dict:
        return asdict(self)


def _seq_length(gt_path: Path | None, gt: pd.DataFrame, pred: pd.DataFrame) -> int:
    if gt_path is not None:
        for folder in (gt_path.parent, gt_path.parent.parent):
            ini = folder / "seqinfo.ini"
            if ini.is_file():
                parser = configparser.ConfigParser()
                parser.read(ini)
                try:
                    return int(parser["Sequence"]["seqLength"])
                except (KeyError, ValueError):
                    raise UserError(f"{ini}: no whole-number [Sequence] seqLength") from None
    return int(max(gt["frame"].max(), pred["frame"].max() if len(pred) else 0))


def choose_benchmark(gt: pd.DataFrame) -> str:
    """MOT17 rules when the gt's 8th column is a MOT16/17/20 class id on every row, else MOT15."""
    if "col8" in gt.columns and set(np.unique(gt["col8"]).tolist()) <= _MOT17_CLASSES:
        return "MOT17"
    return "MOT15"


def _check_unique(frame: pd.DataFrame, what: str, path: Path | str) -> None:
    duplicated = frame.duplicated(["frame", "id"], keep="first")
    if duplicated.any():
        at = int(np.argmax(duplicated.to_numpy()))
        raise UserError(
            f"{path}:{frame.index[at]}: {what} id {frame['id'].iloc[at]} appears twice in frame "
            f"{frame['frame'].iloc[at]}"
        )


def evaluate(
    gt: Path | str | pd.DataFrame,
    pred: Path | str | pd.DataFrame,
    seq_length: int | None = None,
    benchmark: str | None = None,
) -> TrackingScores:
    """TrackEval's HOTA, CLEAR and Identity metrics of ``pred`` against ``gt`` (files or DataFrames
    as ``read_mot`` gives them)."""
    import trackeval  # heavy; only the evaluation commands need it

    gt_path = Path(gt) if not isinstance(gt, pd.DataFrame) else None
    gt_rows = gt if isinstance(gt, pd.DataFrame) else read_mot(gt)
    pred_rows = read_mot(pred) if not isinstance(pred, pd.DataFrame) else pred
    _check_unique(gt_rows, "ground-truth", gt_path or "gt")
    _check_unique(pred_rows, "track", pred if not isinstance(pred, pd.DataFrame) else "pred")
    length = seq_length or _seq_length(gt_path, gt_rows, pred_rows)
    last = int(max(gt_rows["frame"].max(), pred_rows["frame"].max() if len(pred_rows) else 0))
    if last > length:
        raise UserError(
            f"frame {last} is past the sequence's last frame {length} (seqinfo.ini seqLength)"
        )
    benchmark = benchmark or choose_benchmark(gt_rows)
    if benchmark == "MOT15":  # MOT15's 8th-10th columns are world coordinates, which TrackEval
        pred_rows = pred_rows[pred_rows.columns[:7]]  # would read as the tracks' class: not given
    with tempfile.TemporaryDirectory(prefix="cyclist-eval-") as tmp:
        root = Path(tmp)
        (root / "gt" / _SEQ / "gt").mkdir(parents=True)
        (root / "trackers" / "pred" / "data").mkdir(parents=True)
        # Same values, canonical text: TrackEval keys frames by their text ("1", never "1.0").
        write_mot(gt_rows, root / "gt" / _SEQ / "gt" / "gt.txt", canonical=True)
        write_mot(pred_rows, root / "trackers" / "pred" / "data" / f"{_SEQ}.txt", canonical=True)
        dataset = {
            "GT_FOLDER": str(root / "gt"),
            "TRACKERS_FOLDER": str(root / "trackers"),
            "TRACKERS_TO_EVAL": ["pred"],
            "BENCHMARK": benchmark,
            "SKIP_SPLIT_FOL": True,
            "SEQ_INFO": {_SEQ: length},
            "PRINT_CONFIG": False,
        }
        quiet = {
            "USE_PARALLEL": False,
            "PRINT_RESULTS": False,
            "PRINT_CONFIG": False,
            "TIME_PROGRESS": False,
            "OUTPUT_SUMMARY": False,
            "OUTPUT_DETAILED": False,
            "PLOT_CURVES": False,
        }
        metric_config = {"PRINT_CONFIG": False}
        with contextlib.redirect_stdout(io.StringIO()):  # TrackEval prints progress we do not want
            try:
                evaluator = trackeval.Evaluator(quiet)
                metrics = [
                    trackeval.metrics.HOTA(metric_config),
                    trackeval.metrics.CLEAR(metric_config),
                    trackeval.metrics.Identity(metric_config),
                ]
                results, messages = evaluator.evaluate(
                    [trackeval.datasets.MotChallenge2DBox(dataset)], metrics
                )
            except trackeval.utils.TrackEvalException as exc:
                raise UserError(f"TrackEval: {exc}") from None
    if messages["MotChallenge2DBox"]["pred"] != "Success":
        raise UserError(f"TrackEval: {messages['MotChallenge2DBox']['pred']}")
    res = results["MotChallenge2DBox"]["pred"][_SEQ]["pedestrian"]
    hota, clear, identity, count = res["HOTA"], res["CLEAR"], res["Identity"], res["Count"]
    return TrackingScores(
        hota=float(np.mean(hota["HOTA"])),
        deta=float(np.mean(hota["DetA"])),
        assa=float(np.mean(hota["AssA"])),
        idf1=float(identity["IDF1"]),
        idp=float(identity["IDP"]),
        idr=float(identity["IDR"]),
        mota=float(clear["MOTA"]),
        motp=float(clear["MOTP"]),
        id_switches=int(clear["IDSW"]),
        fragmentations=int(clear["Frag"]),
        gt_boxes=int(count["GT_Dets"]),
        pred_boxes=int(count["Dets"]),
        gt_ids=int(count["GT_IDs"]),
        pred_ids=int(count["IDs"]),
        benchmark=benchmark,
        seq_length=length,
    )


def format_scores(scores: TrackingScores) -> str:
    """A small aligned table, fractions as TrackEval computes them (1 = perfect)."""
    rows = [
        ("HOTA", f"{scores.hota:.4f}"),
        ("DetA", f"{scores.deta:.4f}"),
        ("AssA", f"{scores.assa:.4f}"),
        ("IDF1", f"{scores.idf1:.4f}"),
        ("MOTA", f"{scores.mota:.4f}"),
        ("MOTP", f"{scores.motp:.4f}"),
        ("IDSW", str(scores.id_switches)),
        ("Frag", str(scores.fragmentations)),
        ("GT boxes / ids", f"{scores.gt_boxes} / {scores.gt_ids}"),
        ("pred boxes / ids", f"{scores.pred_boxes} / {scores.pred_ids}"),
        ("rules", f"{scores.benchmark}, {scores.seq_length} frames"),
    ]
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)
