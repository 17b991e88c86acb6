"""The domain: the one Detections type, box geometry, regions of interest, table schemas and the
pipeline config."""
