"""cyclist-dataset: fixed-camera city footage to an anonymized cyclist re-identification dataset."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``cyclist_dataset.load_split``, imported on first use (pandas and pyarrow are not needed by ``--help``)."""
    if name == "load_split":
        from cyclist_dataset.release import load_split

        return load_split
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
