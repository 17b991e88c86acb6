"""Cross-camera labels: the workspace's tracklets as annotators see them (``tracklets``), label
units (``units``) and the rules they obey (``rules``), immutable label versions (``versions``), the
file route (``package`` exports, ``importing`` imports), carrying labels over a rerun (``carry``),
candidate ranking (``candidates``), and the labelling app's session and drafts (``session``,
``drafts``)."""

from cyclist_dataset.dataset.labels.carry import carry_version
from cyclist_dataset.dataset.labels.importing import import_labels
from cyclist_dataset.dataset.labels.package import ExportSummary, export_package
from cyclist_dataset.dataset.labels.session import Session
from cyclist_dataset.dataset.labels.tracklets import (
    read_crops,
    split_parameters,
    tracklet_fingerprints,
    tracklet_table,
)
from cyclist_dataset.dataset.labels.versions import (
    LabelVersion,
    get_version,
    labels_out_of_date,
    list_versions,
    stale_units,
)

__all__ = [
    "ExportSummary",
    "LabelVersion",
    "Session",
    "carry_version",
    "export_package",
    "get_version",
    "import_labels",
    "labels_out_of_date",
    "list_versions",
    "read_crops",
    "split_parameters",
    "stale_units",
    "tracklet_fingerprints",
    "tracklet_table",
]
