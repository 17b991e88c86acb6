"""The package version, read from its installed metadata: ``pyproject.toml`` is the one place it is
written."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cyclist-dataset")
except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
    __version__ = "0+unknown"
