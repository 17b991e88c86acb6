"""cyclist-dataset: fixed-camera city footage to an anonymized cyclist re-identification dataset.

The public API, imported on first use (``--help`` and light readers need neither torch nor OpenCV)::

    from cyclist_dataset import load_pipeline, run_pipeline, load_split, Detections, Tracker
"""

from __future__ import annotations

import importlib
from typing import Any

from cyclist_dataset._version import __version__

_PUBLIC = {
    "load_pipeline": "cyclist_dataset.core.config",
    "PipelineConfig": "cyclist_dataset.core.config",
    "Detections": "cyclist_dataset.core.detections",
    "Tracker": "cyclist_dataset.stages.track",
    "run_pipeline": "cyclist_dataset.pipeline.run",
    "load_split": "cyclist_dataset.dataset.reader",
    "UserError": "cyclist_dataset.errors",
}
__all__ = ["__version__", *_PUBLIC]


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(importlib.import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
