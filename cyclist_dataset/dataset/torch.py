"""PyTorch access to a release: a Dataset of (image, pid, camid) and the thesis's batch sampler.

The public reader of releases for PyTorch
(``from cyclist_dataset.dataset.torch import ReidDataset, CameraPKSampler``).

Training batches follow Schoustra (2020), Section III.B.4: P identities x K images (16 x 4), each
identity once per epoch, an identity with fewer than K images padded with random repeats, and every
batch drawn from a single camera, because training identities are per-camera tracklets: the same
cyclist seen by two cameras is two identities, and must not meet itself as a negative in a batch.

torchreid (not a dependency) reads a release through ``cyclist_dataset.dataset.torchreid``
(``CyclistRelease``, a module-level class, so DataLoader workers can pickle it under the spawn
start method too). torchreid's own samplers do not build single-camera PK batches; for those, train
with ``ReidDataset`` and ``CameraPKSampler`` (``DataLoader(dataset, batch_sampler=sampler)``).

``extract_features`` turns any PyTorch model into the features ``cyclist-dataset evaluate`` reads.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch as _torch
from PIL import Image

from cyclist_dataset.dataset.evaluation.features import Features
from cyclist_dataset.dataset.reader import load_split
from cyclist_dataset.errors import UserError


class ReidDataset(_torch.utils.data.Dataset):
    """One split of a release: item ``i`` is ``(image, pid, camid)``.

    ``image`` is a PIL RGB image, or ``transform(image)`` (e.g. torchvision's
    ``Compose([Resize((256, 128)), ToTensor()])``; crops differ in size, so batching needs a
    resize). ``relabel`` (default: on for train) maps the split's pids to 0..num_pids-1 for a
    classifier; release train pids already are. ``camid`` is the release's 0-based camera number.
    """

    def __init__(
        self,
        release_dir: Path | str,
        split: str = "train",
        transform: Callable | None = None,
        relabel: bool | None = None,
    ) -> None:
        self._init(
            load_split(release_dir, split),
            transform,
            split == "train" if relabel is None else relabel,
        )

    @classmethod
    def from_frame(
        cls, frame: pd.DataFrame, transform: Callable | None = None, relabel: bool = True
    ) -> ReidDataset:
        """From a ``load_split`` DataFrame (or a filtered part of it)."""
        dataset = cls.__new__(cls)
        dataset._init(frame, transform, relabel)
        return dataset

    def _init(self, frame: pd.DataFrame, transform: Callable | None, relabel: bool) -> None:
        if len(frame) == 0:
            raise UserError(
                "ReidDataset: no images (an empty split, or a filter that kept nothing); "
                "a DataLoader over it would yield nothing"
            )
        self.paths: list[str] = list(frame["path"])
        pids = frame["pid"].to_numpy(np.int64)
        if relabel:
            _, pids = np.unique(pids, return_inverse=True)
        self.pids: np.ndarray = pids.astype(np.int64)
        self.camids: np.ndarray = frame["camid"].to_numpy(np.int64)
        self.transform = transform
        self.num_pids = int(len(np.unique(self.pids)))

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[object, int, int]:
        with Image.open(self.paths[index]) as file:
            image = file.convert("RGB")
        if self.transform is not None:
            image = self.transform(image)
        return image, int(self.pids[index]), int(self.camids[index])


class CameraPKSampler(_torch.utils.data.Sampler):
    """Batches of ``p`` identities x ``k`` images, every batch from a single camera (a batch
    sampler: ``DataLoader(dataset, batch_sampler=CameraPKSampler(dataset))``).

    Per epoch, each (camera, identity) is used once, with ``k`` of its images drawn without
    replacement, or all of them padded with random repeats when it has fewer. A camera's identities
    are shuffled into groups of ``p``; with ``drop_last`` (default) a camera's last group of fewer
    than ``p`` identities is left out of that epoch (others are left out the next), so every batch
    is exactly ``p * k``. Batches of all cameras are then shuffled together. Deterministic for a
    ``seed``; each pass (or ``set_epoch``) draws a new epoch.
    """

    def __init__(
        self, dataset: ReidDataset, p: int = 16, k: int = 4, seed: int = 0, drop_last: bool = True
    ) -> None:
        if p < 1 or k < 1:
            raise ValueError(f"p and k must be at least 1, got p={p}, k={k}")
        self.p, self.k, self.seed, self.drop_last = p, k, seed, drop_last
        self.epoch = 0
        groups: dict[tuple[int, int], list[int]] = defaultdict(list)
        for index, (camid, pid) in enumerate(zip(dataset.camids, dataset.pids, strict=True)):
            groups[(int(camid), int(pid))].append(index)
        self._by_camera: dict[int, list[list[int]]] = defaultdict(list)
        for (camid, _), indices in sorted(groups.items()):
            self._by_camera[camid].append(indices)
        if drop_last and len(self) == 0:
            counts = ", ".join(
                f"camera {camid}: {len(ids)}" for camid, ids in sorted(self._by_camera.items())
            )
            raise ValueError(
                f"CameraPKSampler: no camera has p={p} identities, so no batch can be made "
                f"(identities per camera: {counts or 'none'}). Lower p (at most "
                f"{max((len(ids) for ids in self._by_camera.values()), default=0)}), or pass "
                "drop_last=False for smaller last batches"
            )

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        per_camera = [
            len(ids) // self.p if self.drop_last else -(-len(ids) // self.p)
            for ids in self._by_camera.values()
        ]
        return int(sum(per_camera))

    def __iter__(self) -> Iterator[list[int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        batches: list[list[int]] = []
        for camid in sorted(self._by_camera):
            identities = self._by_camera[camid]
            order = rng.permutation(len(identities))
            stop = len(order) - len(order) % self.p if self.drop_last else len(order)
            for start in range(0, stop, self.p):
                batch: list[int] = []
                for i in order[start : start + self.p]:
                    batch += self._draw(identities[i], rng)
                batches.append(batch)
        for i in rng.permutation(len(batches)):
            yield batches[i]

    def _draw(self, indices: list[int], rng: np.random.Generator) -> list[int]:
        if len(indices) >= self.k:
            return [int(i) for i in rng.choice(indices, self.k, replace=False)]
        return list(indices) + [
            int(i) for i in rng.choice(indices, self.k - len(indices), replace=True)
        ]


def extract_features(
    model: _torch.nn.Module,
    release_dir: Path | str,
    transform: Callable,
    batch_size: int = 64,
    split: str = "test",
    device: str | _torch.device | None = None,
    num_workers: int = 0,
) -> Features:
    """The features ``cyclist-dataset evaluate`` reads, from any PyTorch model: ``model(batch)``
    of each split image, ``transform``ed (e.g. ``Compose([Resize((256, 128)), ToTensor(),
    Normalize(...)])``), in eval mode and without gradients. A model returning a tuple or list
    (torchreid's in some modes) gives its first element. ``write_features`` saves them."""
    frame = load_split(release_dir, split)
    dataset = ReidDataset.from_frame(frame, transform, relabel=False)
    loader = _torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=False, num_workers=num_workers
    )
    if device is None:  # where the model is (a model without parameters: the CPU)
        device = next(model.parameters(), _torch.empty(0)).device
    was_training = model.training
    model.eval()
    batches = []
    try:
        with _torch.no_grad():
            for images, _, _ in loader:
                output = model(images.to(_torch.device(device)))
                if isinstance(output, tuple | list):
                    output = output[0]
                batches.append(output.reshape(len(images), -1).float().cpu().numpy())
    finally:
        model.train(was_training)
    return Features(frame["image"].to_numpy(str), np.concatenate(batches))


def torchreid_lists(release_dir: Path | str) -> tuple[list, list, list]:
    """torchreid's (train, query, gallery) lists of ``(image path, pid, camid)`` for a release.

    An empty train split raises (torchreid would fail later with an ``IndexError``); query and
    gallery are empty for a release without labels (training only)."""
    return tuple(  # type: ignore[return-value]
        [
            (path, int(pid), int(camid))
            for path, pid, camid in zip(frame["path"], frame["pid"], frame["camid"], strict=True)
        ]
        for frame in (
            load_split(release_dir, split, allow_empty=split != "train")
            for split in ("train", "query", "gallery")
        )
    )
