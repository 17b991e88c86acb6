"""Faster R-CNN through torchvision: COCO-trained detectors, weights through torchvision's own
weights API.

``weights="DEFAULT"`` is the architecture's COCO weights file, which torch.hub keeps in
``$TORCH_HOME/hub/checkpoints``; without a network it must be put there by hand (or a local
checkpoint given instead) -- the detector never falls back to random weights.
``half=True`` is CUDA only: on CPU it is ignored with a warning (float16 convolutions are slow or
missing there), so one pipeline file runs on both kinds of machine; the identity says which ran.
"""

from __future__ import annotations

import argparse
import os
import pickle
import re
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np
import torch
from torchvision.models import WeightsEnum
from torchvision.models import detection as tvd

from cyclist_dataset.core.detections import Detections
from cyclist_dataset.errors import UserError
from cyclist_dataset.io import assets

Builder = Callable[..., tvd.FasterRCNN]
ARCHITECTURES: dict[str, tuple[Builder, type[WeightsEnum]]] = {
    "fasterrcnn_resnet50_fpn_v2": (
        tvd.fasterrcnn_resnet50_fpn_v2,
        tvd.FasterRCNN_ResNet50_FPN_V2_Weights,
    ),
    "fasterrcnn_resnet50_fpn": (tvd.fasterrcnn_resnet50_fpn, tvd.FasterRCNN_ResNet50_FPN_Weights),
    "fasterrcnn_mobilenet_v3_large_fpn": (
        tvd.fasterrcnn_mobilenet_v3_large_fpn,
        tvd.FasterRCNN_MobileNet_V3_Large_FPN_Weights,
    ),
    "fasterrcnn_mobilenet_v3_large_320_fpn": (
        tvd.fasterrcnn_mobilenet_v3_large_320_fpn,
        tvd.FasterRCNN_MobileNet_V3_Large_320_FPN_Weights,
    ),
}
REACHABILITY_TIMEOUT_S = (
    10.0  # torch.hub downloads without a timeout; probe first so offline fails fast
)


class FasterRcnnDetector:
    def __init__(
        self,
        architecture: str,
        weights: str | Path | None,
        classes: Sequence[str] = ("person", "bicycle"),
        score_min: float = 0.25,
        device: str = "auto",
        half: bool = False,
        nms_iou: float | None = None,
    ) -> None:
        if architecture not in ARCHITECTURES:
            raise UserError(
                f"detect.architecture {architecture!r} is unknown; "
                f"valid: {', '.join(ARCHITECTURES)}"
            )
        builder, weights_enum = ARCHITECTURES[architecture]
        # The COCO label map by name; the metadata ships with torchvision, no download needed.
        categories = list(weights_enum.DEFAULT.meta["categories"])
        unknown = [c for c in classes if c not in categories]
        if unknown:
            valid = [c for c in categories if c not in ("__background__", "N/A")]
            raise UserError(
                f"detect.classes {unknown} are not COCO classes of {architecture}; valid: {valid}"
            )
        options: dict[str, Any] = {"num_classes": len(categories), "box_score_thresh": score_min}
        if nms_iou is not None:
            options["box_nms_thresh"] = nms_iou

        self.device = choose_device(device)
        self.half = half and self.device.type == "cuda"
        if half and not self.half:
            warnings.warn("detect.half = true is ignored on CPU: running in float32", stacklevel=2)
        if weights is None:  # random init, for plumbing tests only
            model, source = (
                builder(weights=None, weights_backbone=None, **options),
                "weights=none (random, tests only)",
            )
        elif isinstance(weights, str) and weights == "DEFAULT":
            model = _load_default(builder, weights_enum.DEFAULT, architecture, options)
            source = str(weights_enum.DEFAULT)  # e.g. FasterRCNN_ResNet50_FPN_V2_Weights.COCO_V1
        else:
            path = Path(weights)
            model = _load_checkpoint(builder, path, architecture, options)
            source = f"file={path.name}@sha256:{assets.sha256_of(path)}"
        self.model = model.eval().to(self.device)
        if self.half:
            self.model.half()
        self.identity = f"torchvision:{architecture}:{source}" + (":fp16" if self.half else "")
        self.score_min = score_min
        self.class_ids = torch.tensor([categories.index(c) for c in classes], device=self.device)
        self.label_names = np.array(categories, dtype=object)  # model label index -> class name

    def prepare(self, image: np.ndarray) -> torch.Tensor:
        """BGR uint8 HxWx3 -> RGB uint8 CHW; stays uint8 until on the device (4x less to copy)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 HxWx3 frame, got {image.dtype} {image.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(image[:, :, ::-1].transpose(2, 0, 1)))
        # pinned: async host-to-GPU copy
        return tensor.pin_memory() if self.device.type == "cuda" else tensor

    def detect_prepared(self, prepared: Sequence[torch.Tensor]) -> list[Detections]:
        if not prepared:
            return []
        dtype = torch.float16 if self.half else torch.float32
        with torch.inference_mode():
            # The model resizes and normalises itself and maps boxes back to frame pixels.
            batch = [t.to(self.device, non_blocking=True).to(dtype).div_(255) for t in prepared]
            outputs = self.model(batch)  # one forward call for the whole batch
            return [self._detections(out) for out in outputs]

    def detect(self, images: Sequence[np.ndarray]) -> list[Detections]:
        return self.detect_prepared([self.prepare(image) for image in images])

    def _detections(self, out: dict[str, torch.Tensor]) -> Detections:
        keep = torch.isin(out["labels"], self.class_ids) & (out["scores"] >= self.score_min)
        return Detections(
            out["boxes"][keep].float().cpu().numpy().reshape(-1, 4),
            out["scores"][keep].float().cpu().numpy(),
            self.label_names[out["labels"][keep].cpu().numpy()],
        )


def choose_device(device: str) -> torch.device:
    """ "auto" (CUDA when usable, else CPU), "cpu", "cuda" or "cuda:N", checked against this
    machine."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if not re.fullmatch(r"cpu|cuda(:\d+)?", device):
        raise UserError(
            f'runtime.device = {device!r} is not a device; use "auto", "cpu", "cuda" or "cuda:N"'
        )
    chosen = torch.device(device)
    if chosen.type == "cuda" and not torch.cuda.is_available():
        raise UserError(
            f"runtime.device = {device!r} but this machine has no usable CUDA GPU (torch "
            f'{torch.__version__}); set device = "auto" or "cpu" in the pipeline\'s [detect] '
            "section"
        )
    if chosen.type == "cuda" and (chosen.index or 0) >= torch.cuda.device_count():
        raise UserError(
            f"runtime.device = {device!r} but there are only {torch.cuda.device_count()} "
            "CUDA devices"
        )
    return chosen


def cache_file(weights: WeightsEnum) -> Path:
    """Where torch.hub keeps (and first looks for) a weights file:
    $TORCH_HOME/hub/checkpoints/<name>."""
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(weights.url).path)


def _load_default(
    builder: Builder, weights: WeightsEnum, architecture: str, options: dict
) -> tvd.FasterRCNN:
    cache = cache_file(weights)

    def unavailable(problem: str) -> UserError:
        return UserError(
            f'detect.weights = "DEFAULT" needs torchvision\'s COCO weights for {architecture} in '
            f"the torch cache file {cache}, but {problem}. Either put the file there (download "
            f"{weights.url} on a connected machine; TORCH_HOME moves the cache), or set "
            f'weights = "path/to/file.pth" in the pipeline\'s [detect] section.'
        )

    if not cache.is_file():
        try:
            urllib.request.urlopen(
                urllib.request.Request(weights.url, method="HEAD"), timeout=REACHABILITY_TIMEOUT_S
            ).close()
        except urllib.error.HTTPError:
            # the server answered: the network works, let torch.hub download (or report) as usual
            pass
        except OSError as e:
            raise unavailable(
                f"it is missing and the download server is unreachable ({e})"
            ) from None
    try:
        # torch.hub checks the file's hash
        return builder(weights=weights, progress=True, **options)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        problem = (
            "it could not be loaded; delete it to download it again"
            if cache.is_file()
            else "the download failed"
        )
        raise unavailable(f"{problem} ({e})") from e


def _load_checkpoint(
    builder: Builder, path: Path, architecture: str, options: dict
) -> tvd.FasterRCNN:
    if not path.is_file():
        raise UserError(
            f"detect.weights: checkpoint not found: {path}; give an existing .pth file, or "
            f'weights = "DEFAULT" for torchvision\'s COCO weights'
        )
    try:
        # torchvision's train.py saves its args in the checkpoint.
        with torch.serialization.safe_globals([argparse.Namespace]):
            loaded = torch.load(path, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise UserError(
            f"{path}: not a loadable PyTorch checkpoint ({e}); give a .pth state dict"
        ) from e
    if isinstance(loaded, dict):  # a bare state dict, or a training checkpoint holding one
        loaded = loaded.get("model", loaded.get("state_dict", loaded))
    if not isinstance(loaded, dict):
        raise UserError(
            f"{path}: expected a state dict (or a dict with 'model' or 'state_dict'), "
            f"got {type(loaded)}"
        )
    # Built like "DEFAULT" but empty; BatchNorm and torchvision's FrozenBatchNorm checkpoints both
    # load.
    model = builder(weights=None, weights_backbone=None, **options)
    try:
        model.load_state_dict(loaded, strict=True)
    except RuntimeError:
        expected = {
            k: v.shape
            for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked")
        }
        given = {
            k: getattr(v, "shape", None)
            for k, v in loaded.items()
            if not k.endswith("num_batches_tracked")
        }
        missing, unexpected = sorted(expected.keys() - given), sorted(given.keys() - expected)
        reshaped = sorted(k for k in expected.keys() & given if expected[k] != given[k])
        found = "; ".join(
            f"{len(keys)} {what}, e.g. {keys[:3]}"
            for what, keys in (
                ("missing keys", missing),
                ("unexpected keys", unexpected),
                ("of another shape", reshaped),
            )
            if keys
        )
        raise UserError(
            f"{path}: the checkpoint does not match architecture {architecture!r} with the "
            f"{options['num_classes']} COCO classes ({found}). Set detect.architecture to the "
            f"one it was trained as (valid: {', '.join(ARCHITECTURES)}) or give another checkpoint."
        ) from None
    return model
