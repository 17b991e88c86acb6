"""A release as a torchreid dataset (torchreid is not a dependency: import this module only where
it is installed; PyPI's ``torchreid`` 0.2.5 works, imported as ``torchreid``)::

    import torchreid
    from cyclist_dataset.dataset.torchreid import CyclistRelease

    torchreid.data.register_image_dataset("cyclists", CyclistRelease)
    datamanager = torchreid.data.ImageDataManager(
        root="WORKSPACE/releases/NAME", sources="cyclists", height=256, width=128
    )

``root`` is the release folder. The class lives at module level so that DataLoader workers started
with ``spawn`` (the default on macOS and Windows) can pickle it. Training identities are per-camera
tracklets (pids 0..N-1); the query and gallery splits carry the labelled cross-camera identities,
with distractors (unlabelled tracklets) in the gallery as pid 0, which torchreid's evaluation
treats as any identity no query has.
"""

from __future__ import annotations

import torchreid

from cyclist_dataset.dataset.torch import torchreid_lists


class CyclistRelease(torchreid.data.ImageDataset):
    """torchreid's ``ImageDataset`` of a release folder (``root``)."""

    # Distractors: left out when ``combineall`` turns query and gallery into training classes
    _junk_pids = [0]

    def __init__(self, root: str = "", **kwargs) -> None:
        train, query, gallery = torchreid_lists(root)
        super().__init__(train, query, gallery, **kwargs)
