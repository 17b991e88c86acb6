"""Cross-camera labels: the annotators' package (``package``), the workspace's tracklets as they see
them (``tracklets``), and immutable label versions (``versions``)."""

from cyclist_dataset.dataset.labels.package import ExportSummary, export_package
from cyclist_dataset.dataset.labels.tracklets import (
    read_crops,
    split_parameters,
    tracklet_fingerprints,
    tracklet_table,
)
from cyclist_dataset.dataset.labels.versions import (
    LabelVersion,
    get_version,
    import_labels,
    list_versions,
)

__all__ = [
    "ExportSummary",
    "LabelVersion",
    "export_package",
    "get_version",
    "import_labels",
    "list_versions",
    "read_crops",
    "split_parameters",
    "tracklet_fingerprints",
    "tracklet_table",
]
