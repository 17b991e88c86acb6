"""Tools around the pipeline: ROI previews, whole-video anonymization, the privacy audit of a
workspace, the tracker on MOTChallenge files and its evaluation, and the run report."""
