"""Feature files: one vector per release image, keyed by the image's path in the release
(``images/<location>/<camera>/<tracklet>/<crop>.jpg``, the ``image`` column of every split).

Accepted files:

- Parquet: a string column ``image`` and either a list column ``feature`` or one numeric column per
  dimension (every other column);
- ``.npy``: an N x D array, with the image keys one per line in a text file (``--index``; default:
  the same name with ``.txt``);
- ``.npz``: arrays ``features`` (N x D) and ``images`` (N keys).

``write_features`` writes the Parquet form (``image`` + ``feature``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from cyclist_dataset.core import schemas
from cyclist_dataset.dataset.colour import colour_statistics
from cyclist_dataset.dataset.reader import load_split
from cyclist_dataset.errors import UserError
from cyclist_dataset.io.atomic import atomic_path


@dataclass(frozen=True)
class Features:
    images: np.ndarray  # str keys, release image paths
    vectors: np.ndarray  # N x D float

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or len(self.vectors) != len(self.images):
            raise ValueError(
                f"{len(self.images)} image keys for a feature array of shape {self.vectors.shape}"
            )

    def for_images(self, images: Iterable[str], source: str) -> np.ndarray:
        """The vectors of ``images``, in their order; every one must be present."""
        position = pd.Index(self.images)
        if not position.is_unique:
            twice = position[position.duplicated()].unique()
            raise UserError(
                f"{source}: {len(twice)} image(s) have more than one feature vector "
                f"(e.g. {twice[0]!r}); give one per image"
            )
        wanted = pd.Index(list(images))
        found = position.get_indexer(wanted)
        if (found < 0).any():
            missing = wanted[found < 0]
            raise UserError(
                f"{source}: no features for {len(missing)} of the {len(wanted)} test images "
                f"(e.g. {missing[0]!r}); keys are the release's image paths (the `image` column "
                "of test.parquet). Extract features for the whole test split"
            )
        vectors = self.vectors[found]
        if not np.isfinite(vectors).all():
            bad = wanted[~np.isfinite(vectors).all(axis=1)]
            raise UserError(f"{source}: non-finite feature values for {bad[0]!r} and others")
        return vectors


def read_features(path: Path | str, index: Path | str | None = None) -> Features:
    """A feature file (Parquet, .npy with an index, .npz); errors name the file and the fix."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"features file {path} not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return _from_table(pd.read_parquet(path), path)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                if "features" not in data or "images" not in data:
                    raise UserError(
                        f"{path}: an .npz needs arrays 'features' and 'images' "
                        f"(found {', '.join(data.files) or 'none'})"
                    )
                return _checked(data["images"].astype(str), data["features"], path)
        if suffix == ".npy":
            index = Path(index) if index is not None else path.with_suffix(".txt")
            if not index.is_file():
                raise UserError(
                    f"{path}: an .npy file needs its image keys, one per line, in {index} "
                    "(or give --index FILE)"
                )
            keys = index.read_text(encoding="utf-8").splitlines()
            return _checked(np.asarray(keys, dtype=str), np.load(path, allow_pickle=False), path)
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise UserError(f"{path}: cannot read features ({exc})") from exc
    raise UserError(f"{path}: features must be .parquet, .npy (with an index) or .npz")


def _from_table(table: pd.DataFrame, path: Path) -> Features:
    if "image" not in table.columns:
        raise UserError(f"{path}: no `image` column (the release's image path of each row)")
    if "feature" in table.columns:
        missing = table["feature"].isna().to_numpy()
        if missing.any():
            raise UserError(f"{path}: row {int(missing.argmax())}: no feature vector (null)")
        lengths = table["feature"].map(len)
        if lengths.nunique() > 1:
            row = int((lengths != lengths.iloc[0]).to_numpy().argmax())
            raise UserError(
                f"{path}: row {row}: {lengths.iloc[row]} values, row 0 has {lengths.iloc[0]}"
            )
        vectors = np.stack(table["feature"].to_numpy()) if len(table) else np.zeros((0, 0))
    else:
        numeric = table.drop(columns="image").select_dtypes("number")
        if numeric.shape[1] == 0:
            raise UserError(f"{path}: no `feature` column and no numeric columns")
        # A release manifest's columns (pid, camid, boxes...) beside the vector would become
        # dimensions and leak the answers into the distances.
        leaked = sorted(set(numeric.columns) & set(schemas.RELEASE_SPLIT.names))
        if leaked:
            raise UserError(
                f"{path}: columns {', '.join(leaked)} are release manifest columns, not feature "
                "dimensions; keep only `image` and the vector (or one list column `feature`)"
            )
        vectors = numeric.to_numpy()
    return _checked(table["image"].astype(str).to_numpy(), vectors, path)


def _checked(images: np.ndarray, vectors: np.ndarray, path: Path) -> Features:
    vectors = np.asarray(vectors)
    if not np.issubdtype(vectors.dtype, np.floating):
        vectors = vectors.astype(np.float64)
    if vectors.ndim != 2:
        raise UserError(f"{path}: features must be 2-D (N x D), got shape {vectors.shape}")
    if len(images) != len(vectors):
        raise UserError(f"{path}: {len(images)} image keys but {len(vectors)} feature rows")
    return Features(images, vectors)  # float32 or float64, as the model gave them


def write_features(features: Features, path: Path | str) -> Path:
    """The Parquet form (``image``, ``feature``: float32 or float64 as given), atomically."""
    path = Path(path)
    vectors = np.asarray(features.vectors)
    value = pa.float64() if vectors.dtype == np.float64 else pa.float32()
    table = pa.table(
        {
            "image": pa.array(features.images.astype(str).tolist(), pa.string()),
            "feature": pa.array(list(vectors), pa.list_(value)),
        }
    )
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def colour_features(
    release_dir: Path | str,
    split: str = "test",
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> Features:
    """The baseline: ``dataset.colour`` statistics of every image of a split (a sanity floor
    for the metrics and the pipeline; any model should beat it by far)."""
    frame = load_split(release_dir, split)
    vectors = []
    for done, path in enumerate(frame["path"], 1):
        with Image.open(os.fspath(path)) as image:
            vectors.append(colour_statistics(image))
        if done % 500 == 0 or done == len(frame):
            progress(done, len(frame))
    return Features(frame["image"].to_numpy(str), np.stack(vectors))
