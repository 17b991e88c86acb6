"""Candidate matches for a tracklet: the likeliest same person at each other camera of its
location (top k per camera, not overall), and same-camera fragments of a broken track.

A candidate's score is ``APPEARANCE_WEIGHT * appearance + (1 - APPEARANCE_WEIGHT) * time``:

- **time**: how well the gap between the two tracklets fits. With a travel time between the two
  cameras in the pipeline file (``[[location.travel]]``), a Gaussian around it; else closeness in
  time. Overlapping in time at cameras whose views do not overlap is impossible: time 0.
- **appearance**: the cosine similarity of the two tracklets' embeddings. Any
  ``AppearanceModel`` gives them (a re-ID network's features, later); the default is colour
  statistics of the torso and legs (``ColourStatistics``). Embeddings are cached in the workspace
  by tracklet fingerprint and model name, so only new tracklets are embedded again.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np
import pandas as pd

from cyclist_dataset.dataset import colour
from cyclist_dataset.dataset.labels.location import LocationSettings
from cyclist_dataset.io.atomic import atomic_path

# Measured on the multicam_lab workspace with its labels (benchmarks/annotate.py, 51 true
# cross-camera links): the top 3 of the right camera hold the match for every weight from time
# only to appearance only (51 of 51); the first candidate is right for 27 (time only), 38 (0.3),
# 38 (0.6), 39 (0.9), 36 (appearance only). Its cameras overlap in time, so time says little
# there; 0.6 keeps time a real say where a layout gives travel times.
APPEARANCE_WEIGHT = 0.6
TIME_SCALE_S = 60.0  # without a travel time: a gap of a minute scores e^-1 of an instant match
OVERLAP_SCALE_S = 10.0  # overlapping views: the same person is seen at once, or within seconds
FRAGMENT_GAP_S = 10.0  # same camera: a track broken by an occlusion resumes within seconds
MAX_GAP_S = 600.0  # candidates are at most this far apart in time
CROPS_PER_TRACKLET = 8  # embedded per tracklet, evenly in time


class AppearanceModel(Protocol):
    """Turns crops (BGR images) into one embedding each; ``name`` keys the cache."""

    name: str

    def embed(self, images: list[np.ndarray]) -> np.ndarray: ...


class ColourStatistics:
    """``dataset.colour``'s statistics of each crop (BGR arrays, as OpenCV reads them), with
    OpenCV's area resize and HSV: a sanity floor for ranking, not a re-ID model."""

    name = "colour-v1"

    def embed(self, images: list[np.ndarray]) -> np.ndarray:
        return np.stack([self._one(image) for image in images])

    def _one(self, image: np.ndarray) -> np.ndarray:
        resized = cv2.resize(image, colour.SIZE, interpolation=cv2.INTER_AREA)
        return colour.statistics_of_hsv(cv2.cvtColor(resized, cv2.COLOR_BGR2HSV), hue_levels=180)


@dataclass(frozen=True)
class Candidate:
    tracklet_id: str
    camera: str
    score: float
    time: float
    appearance: float
    gap_s: float  # between the two time spans; negative: they overlap by that much


class CandidateIndex:
    """One location's validation tracklets, ready to rank candidates for any of them."""

    def __init__(
        self,
        tracklets: pd.DataFrame,
        embeddings: np.ndarray,
        settings: LocationSettings,
        appearance_weight: float = APPEARANCE_WEIGHT,
    ) -> None:
        self.settings = settings
        self.appearance_weight = appearance_weight
        self.ids = tracklets.index.to_numpy()
        self.position = {t: i for i, t in enumerate(self.ids)}
        self.cameras = tracklets["camera"].to_numpy()
        origin = tracklets["start"].min()
        self.start = (tracklets["start"] - origin).dt.total_seconds().to_numpy()
        self.end = (tracklets["end"] - origin).dt.total_seconds().to_numpy()
        self.embeddings = embeddings

    @classmethod
    def build(
        cls,
        root: Path,
        tracklets: pd.DataFrame,
        crops_of: Callable[[str], Iterable[str]],
        settings: LocationSettings,
        model: AppearanceModel | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> CandidateIndex:
        """The index of ``tracklets`` (a ``tracklet_table``), embedding with ``model`` (default:
        colour statistics) those the workspace's cache does not hold yet."""
        cache = EmbeddingCache(root, model or ColourStatistics())
        return cls(tracklets, cache.embeddings(root, tracklets, crops_of, progress), settings)

    def candidates(
        self, tracklet_id: str, per_camera: int = 3, fragments: int = 3
    ) -> tuple[dict[str, list[Candidate]], list[Candidate]]:
        """The top ``per_camera`` candidates at each other camera (cameras in order), and the top
        ``fragments`` same-camera fragments."""
        i = self.position[tracklet_id]
        gap = np.maximum(self.start[i], self.start) - np.minimum(self.end[i], self.end)
        near = np.flatnonzero((gap <= MAX_GAP_S) & (np.arange(len(self.ids)) != i))
        appearance = self.embeddings[near] @ self.embeddings[i]
        time = self._time(i, near, gap[near])
        score = self.appearance_weight * appearance + (1 - self.appearance_weight) * time
        order = np.lexsort((self.ids[near], -score))
        by_camera: dict[str, list[Candidate]] = {}
        same: list[Candidate] = []
        for k in order:
            j = near[k]
            found = Candidate(
                str(self.ids[j]),
                str(self.cameras[j]),
                float(score[k]),
                float(time[k]),
                float(appearance[k]),
                float(gap[j]),
            )
            if self.cameras[j] == self.cameras[i]:
                if gap[j] > 0 and gap[j] <= FRAGMENT_GAP_S and len(same) < fragments:
                    same.append(found)
            else:
                listed = by_camera.setdefault(found.camera, [])
                if len(listed) < per_camera:
                    listed.append(found)
        return dict(sorted(by_camera.items())), same

    def _time(self, i: int, near: np.ndarray, gap: np.ndarray) -> np.ndarray:
        time = np.zeros(len(near))
        for n, j in enumerate(near):
            if self.cameras[j] == self.cameras[i]:
                time[n] = np.exp(-max(gap[n], 0.0) / FRAGMENT_GAP_S) if gap[n] > 0 else 0.0
                continue
            link = self.settings.travel_between(str(self.cameras[i]), str(self.cameras[j]))
            if gap[n] < 0 and not self.settings.overlapping_views:
                continue  # at once at two cameras that do not see the same place: impossible
            if link is not None:
                time[n] = np.exp(-0.5 * ((max(gap[n], 0.0) - link.expected_s) / link.window_s) ** 2)
            elif self.settings.overlapping_views:
                time[n] = np.exp(-max(gap[n], 0.0) / OVERLAP_SCALE_S)
            else:
                time[n] = np.exp(-gap[n] / TIME_SCALE_S)
        return time


def even(items: list, n: int) -> list:
    """At most ``n`` of ``items``, evenly spread (first and last included)."""
    if len(items) <= n:
        return list(items)
    return [items[i] for i in np.linspace(0, len(items) - 1, n).round().astype(int)]


class EmbeddingCache:
    """Tracklet embeddings by model name, tracklet id and fingerprint, one ``.npz`` per model
    under ``WORKSPACE/labels/cache``; written atomically, extended with what is missing."""

    def __init__(self, root: Path, model: AppearanceModel) -> None:
        self.path = Path(root) / "labels" / "cache" / f"appearance-{model.name}.npz"
        self.model = model
        self.known: dict[str, np.ndarray] = {}
        if self.path.is_file():
            with np.load(self.path) as data:
                self.known = dict(zip(json.loads(str(data["keys"])), data["vectors"], strict=True))

    def embeddings(
        self,
        root: Path,
        tracklets: pd.DataFrame,
        crops_of: Callable[[str], Iterable[str]],
        progress: Callable[[int, int], None] | None = None,
    ) -> np.ndarray:
        """(n, d) embeddings of ``tracklets`` (rows in order; ``fingerprint`` column), embedding
        the missing ones from ``crops_of(tracklet_id)`` (crop paths relative to ``root``). A
        tracklet whose crops cannot be read gets a zero embedding (similar to nothing)."""
        keys = [f"{t}:{f}" for t, f in zip(tracklets.index, tracklets["fingerprint"], strict=True)]
        missing = [
            (t, k) for t, k in zip(tracklets.index, keys, strict=True) if k not in self.known
        ]
        for n, (tracklet_id, key) in enumerate(missing):
            paths = even(list(crops_of(tracklet_id)), CROPS_PER_TRACKLET)
            images = [
                image for p in paths if (image := cv2.imread(str(Path(root) / p))) is not None
            ]
            if images:
                mean = self.model.embed(images).mean(axis=0)
                self.known[key] = mean / max(float(np.linalg.norm(mean)), 1e-9)
            if progress:
                progress(n + 1, len(missing))
        if missing:
            self._save()
        width = len(next(iter(self.known.values()))) if self.known else 1
        zero = np.zeros(width, np.float32)
        return np.stack([self.known.get(k, zero) for k in keys]) if keys else zero[None, :0]

    def _save(self) -> None:
        keys = list(self.known)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not keys:
            return
        with atomic_path(self.path, ".npz") as tmp, open(tmp, "wb") as f:
            np.savez(
                f, keys=np.array(json.dumps(keys)), vectors=np.stack([self.known[k] for k in keys])
            )
