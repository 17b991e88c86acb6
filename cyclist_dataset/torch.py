"""PyTorch access to releases: ``from cyclist_dataset.torch import ReidDataset, CameraPKSampler``.

The code lives in ``cyclist_dataset.reid_torch``; this module only gives it its public name. (Imports
are absolute, so this module never shadows the ``torch`` package, inside or outside this package.)
"""

from cyclist_dataset.reid_torch import CameraPKSampler, ReidDataset, torchreid_dataset, torchreid_lists

__all__ = ["CameraPKSampler", "ReidDataset", "torchreid_dataset", "torchreid_lists"]
