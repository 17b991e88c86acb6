"""Files and media: hashing, atomic writes, the workspace layout, the asset cache, video decoding,
MOT files."""
