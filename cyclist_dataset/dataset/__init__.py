"""The dataset side: cross-camera labels, immutable releases and their cards, exports for training
codebases (``pull``) and the PyTorch reader (``torch``)."""
