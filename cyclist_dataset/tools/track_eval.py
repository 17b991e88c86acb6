"""Tracking metrics (HOTA, IDF1, MOTA, ID switches, fragmentations) for one sequence, via TrackEval,
and tracklet purity (``purity``: the share of tracks that show one identity, what a re-ID dataset
needs), computed here: TrackEval has no per-track measure.

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
from cyclist_dataset.io.mot import mot_xyxy, read_mot, write_mot

_MOT17_CLASSES = set(range(1, 14))
# MOT17 classes whose boxes are neither scored nor false positives (TrackEval's distractors): a
# person on a vehicle, a static person, a distractor, a reflection
MOT17_DISTRACTORS = (2, 7, 8, 12)
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
    purity: float  # share of the tracks with >= 95% of their boxes on one identity (``purity``)
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
        purity=purity(gt_rows, pred_rows, benchmark).share,
        benchmark=benchmark,
        seq_length=length,
    )


# A tracklet is pure when at least this share of its boxes show one ground-truth identity: a
# re-ID dataset takes each tracklet as one identity, so a tracklet that switched teaches the model
# that two people are one.
PURE_SHARE = 0.95
MATCH_IOU = 0.5  # a box shows a ground-truth object when they overlap this much (MOTChallenge's)


@dataclass(frozen=True)
class Purity:
    tracklets: int  # tracklets with at least one box that counts (see ``purity``)
    pure: int

    @property
    def share(self) -> float:
        return self.pure / self.tracklets if self.tracklets else float("nan")


def purity(gt: pd.DataFrame, pred: pd.DataFrame, benchmark: str | None = None) -> Purity:
    """The share of ``pred``'s tracks with at least ``PURE_SHARE`` of their boxes on one
    ground-truth identity; a box on nobody counts against its track.

    In each frame the tracks' boxes are matched one-to-one to the ground-truth boxes (the most
    summed IOU over pairs of at least ``MATCH_IOU``), as TrackEval matches them. The ground truth
    TrackEval does not score is left out the same way: rows with conf 0, and under MOT17 rules
    every class but pedestrians; a box matched to a MOT17 distractor (a person on a vehicle, a
    static person, a distractor, a reflection) does not count at all.
    """
    from scipy.optimize import linear_sum_assignment

    from cyclist_dataset.core.geometry import iou_matrix

    benchmark = benchmark or choose_benchmark(gt)
    scored = gt["conf"].to_numpy() != 0
    distractor = np.zeros(len(gt), bool)
    if benchmark == "MOT17":
        classes = gt["col8"].to_numpy()
        distractor = np.isin(classes, MOT17_DISTRACTORS)
        scored &= classes == 1
    candidates = scored | distractor
    ids = gt["id"].to_numpy()
    shown = np.full(len(pred), -1, np.int64)  # gt id per pred box; -1: nobody; -2: a distractor
    gt_frames = gt.groupby("frame").indices
    for frame, rows in pred.groupby("frame").indices.items():
        at = gt_frames.get(frame, np.zeros(0, np.int64))
        at = at[candidates[at]]
        if not at.size:
            continue
        overlap = iou_matrix(mot_xyxy(pred.iloc[rows]), mot_xyxy(gt.iloc[at]))
        overlap[overlap < MATCH_IOU] = 0.0  # pairs below the threshold never match
        for i, j in zip(*linear_sum_assignment(overlap, maximize=True), strict=True):
            if overlap[i, j] > 0:
                shown[rows[i]] = ids[at[j]] if scored[at[j]] else -2
    counted = pd.DataFrame({"id": pred["id"].to_numpy(), "shown": shown})
    counted = counted[counted["shown"] != -2]
    pure = 0
    for _, boxes in counted.groupby("id"):
        identities = boxes["shown"][boxes["shown"] >= 0]
        top = identities.value_counts().iloc[0] if len(identities) else 0
        pure += top >= PURE_SHARE * len(boxes)
    return Purity(counted["id"].nunique(), int(pure))


def format_scores(scores: TrackingScores) -> str:
    """A small aligned table, fractions as TrackEval computes them (1 = perfect)."""
    rows = [
        ("HOTA", f"{scores.hota:.4f}"),
        ("DetA", f"{scores.deta:.4f}"),
        ("AssA", f"{scores.assa:.4f}"),
        ("IDF1", f"{scores.idf1:.4f}"),
        ("IDP", f"{scores.idp:.4f}"),
        (f"purity (>= {PURE_SHARE:.0%} boxes one id)", f"{scores.purity:.4f}"),
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
