"""Content identities: SHA-256 of files and bytes, and stable fingerprints of parameters."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

_BLOCK = 1 << 20  # 1 MiB reads: large videos are hashed without loading them whole


def sha256_of(path: Path) -> str:
    """The SHA-256 of a file's content (hex)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fingerprint(*parts: object) -> str:
    """A stable hash of JSON-serialisable parts (params, upstream fingerprints, code versions)."""
    return sha256_bytes(json.dumps(parts, sort_keys=True, default=str).encode())
