"""cyclist-dataset: fixed-camera city footage to an anonymized cyclist re-identification dataset."""

__version__ = "0.1.0"
