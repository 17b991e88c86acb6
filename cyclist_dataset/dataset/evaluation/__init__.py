"""Evaluating a re-ID model on a release (Schoustra 2020, Section III.C): closed-world CMC and
mAP under the thesis's and Market-1501's protocols, open-world precision, recall and F1 of
cross-camera pairs, per image and per tracklet (mean embeddings).

    from cyclist_dataset.dataset.evaluation import evaluate, read_features, write_report

numpy, pandas, pyarrow and Pillow only (the PNG plots use matplotlib where it is installed);
features come from any model, e.g. ``cyclist_dataset.dataset.torch.extract_features`` for a
PyTorch one, or from ``colour_features``, the baseline."""

from cyclist_dataset.dataset.evaluation.features import (
    Features,
    colour_features,
    read_features,
    write_features,
)
from cyclist_dataset.dataset.evaluation.protocols import Evaluation, evaluate
from cyclist_dataset.dataset.evaluation.report import markdown, write_report

__all__ = [
    "Evaluation",
    "Features",
    "colour_features",
    "evaluate",
    "markdown",
    "read_features",
    "write_features",
    "write_report",
]
