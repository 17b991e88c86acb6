"""The tracker on its own, for MOTChallenge files: `track-mot` and `eval-tracks`.

Plain functions with typer annotations; cli.py registers them as commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from cyclist_dataset.cli.app import app
from cyclist_dataset.core.config import TrackConfig
from cyclist_dataset.errors import UserError

_DEFAULTS = TrackConfig()


def _help(field: str, text: str) -> str:
    """The option's help with the pipeline's default (TrackConfig's), so the two never disagree."""
    default = getattr(_DEFAULTS, field)
    return f"{text} Default: {'off' if default is None else default}."


@app.command("track-mot")
def track_mot(
    det: Annotated[
        Path,
        typer.Argument(
            metavar="DET.txt",
            help="MOTChallenge detections (frame,id,x,y,w,h,conf,...; "
            "1-based frames), e.g. MOT17-02/det/det.txt.",
        ),
    ],
    fps: Annotated[
        float, typer.Option(help="Frame rate of the sequence: frame f is at (f - 1) / fps seconds.")
    ],
    out: Annotated[
        Path, typer.Option(help="Where to write the tracks (MOTChallenge text, one line per box).")
    ],
    score_min: Annotated[
        float | None,
        typer.Option(
            help="Track boxes with conf >= this; lower ones only join the low-score pass "
            "(--low-score-min). Default: every box, whatever its conf."
        ),
    ] = None,
    low_score_min: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "low_score_min",
                "Second pass: boxes from this conf up to --score-min extend unmatched tracks, "
                "never start one (equal to --score-min: off; without --score-min no box is "
                "low).",
            )
        ),
    ] = None,
    stitch_max_gap_s: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "stitch_max_gap_s",
                "Join a track that ended to one that began at most this many seconds later when "
                "each continues the other's motion and neither has another such partner. 0: off.",
            )
        ),
    ] = None,
    min_hit_share: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "min_hit_share",
                "Drop tracks with a box in fewer than this share of the frames they span "
                "(sporadic false boxes chained together), before stitching. 0: off.",
            )
        ),
    ] = None,
    max_gap_s: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "max_gap_s",
                "Fill gaps of up to this many seconds in a track by linear interpolation "
                "(conf -1). 0: off.",
            )
        ),
    ] = None,
    min_boxes: Annotated[
        int | None,
        typer.Option(
            help=_help(
                "min_boxes",
                "Drop tracks with fewer boxes (boxes that barely moved, IOU > --iou-max, "
                "count once).",
            )
        ),
    ] = None,
    min_pickup_s: Annotated[
        float | None,
        typer.Option(help=_help("min_pickup_s", "Drop tracks that lived shorter (seconds).")),
    ] = None,
    expiration_s: Annotated[
        float | None,
        typer.Option(
            help=_help("expiration_s", "A track unmatched this long (seconds) is closed.")
        ),
    ] = None,
    iou_min: Annotated[
        float | None, typer.Option(help=_help("iou_min", "Minimum IOU to match a box."))
    ] = None,
    iou_max: Annotated[
        float | None,
        typer.Option(
            help=_help(
                "iou_max", "Above this IOU with the last box a box is stationary and replaces it."
            )
        ),
    ] = None,
    iou_kalman: Annotated[
        float | None,
        typer.Option(
            help=_help("iou_kalman", "Minimum IOU with the Kalman prediction (tracks of 3+ boxes).")
        ),
    ] = None,
    gate_on_prediction: Annotated[
        bool | None,
        typer.Option(
            "--gate-on-prediction/--gate-on-last-box",
            help=_help(
                "gate_on_prediction",
                "Let --iou-min be passed on the Kalman prediction too (the thesis: last box only).",
            ),
        ),
    ] = None,
) -> None:
    """Run the tracker alone over a MOTChallenge detections file and write its tracks.

    Every box a track matched is written with its original values; tracks are numbered in order
    of their first box. Times are in seconds (frames via --fps), as in the pipeline's track stage.
    """
    from cyclist_dataset.io.mot import read_mot, write_mot
    from cyclist_dataset.tools.track_mot import track_detections

    options = {
        "low_score_min": low_score_min,
        "stitch_max_gap_s": stitch_max_gap_s,
        "min_hit_share": min_hit_share,
        "max_gap_s": max_gap_s,
        "min_boxes": min_boxes,
        "min_pickup_s": min_pickup_s,
        "expiration_s": expiration_s,
        "iou_min": iou_min,
        "iou_max": iou_max,
        "iou_kalman": iou_kalman,
        "gate_on_prediction": gate_on_prediction,
    }
    try:
        config = TrackConfig(**{k: v for k, v in options.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"--{'-'.join(map(str, e['loc'])).replace('_', '-') or 'options'}: "
            f"{e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise UserError(f"invalid tracker options: {problems}") from None
    tracks = track_detections(read_mot(det), fps, config, score_min=score_min, source=str(det))
    out.parent.mkdir(parents=True, exist_ok=True)
    write_mot(tracks, out)
    typer.echo(f"{tracks['id'].nunique()} tracks, {len(tracks)} boxes -> {out}")


@app.command("eval-tracks")
def eval_tracks(
    gt: Annotated[
        Path,
        typer.Option(
            help="Ground truth (MOTChallenge gt.txt). A seqinfo.ini beside it or its "
            "folder gives the sequence length."
        ),
    ],
    pred: Annotated[
        Path, typer.Option(help="Tracks to score (MOTChallenge text, e.g. from track-mot).")
    ],
) -> None:
    """Score tracks against ground truth with TrackEval: HOTA, IDF1, IDP, MOTA, ID switches,
    fragmentations; and tracklet purity (the share of tracks with >= 95% of their boxes on one
    identity).

    MOT17 rules when the gt's 8th column holds MOT16/17/20 class ids, else MOT15 rules.
    """
    from cyclist_dataset.tools.track_eval import evaluate, format_scores

    typer.echo(format_scores(evaluate(gt, pred)))
