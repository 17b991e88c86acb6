"""Anonymize stage: blurred, audited crops of every tracklet box (``crops``), from blur kernels
(``blur``), face detectors (``faces``) and the privacy audit (``audit``)."""

from cyclist_dataset.stages.anonymize.blur import blur, blur_window
from cyclist_dataset.stages.anonymize.crops import (
    Anonymizer,
    anonymize_crop,
    crop_box,
    crop_file_name,
    remove_video_crops,
    write_crops,
)

__all__ = [
    "Anonymizer",
    "anonymize_crop",
    "blur",
    "blur_window",
    "crop_box",
    "crop_file_name",
    "remove_video_crops",
    "write_crops",
]
