"""The pipeline's stages, in order: ingest -> detect -> filter -> track -> anonymize -> split.

Each stage is a function from typed inputs (tables, config sections, frames) to a table and its
metadata; the driver (``cyclist_dataset.pipeline``) reads and writes the workspace around them.
"""
