"""The local web app: the labelling workbench (``cyclist-dataset annotate``). Server-rendered pages
with plain JavaScript (no build step, nothing from a CDN: it works offline), over a
``dataset.labels.Session``."""
