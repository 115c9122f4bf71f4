"""SHA-256 of files and byte strings: the one helper every part of the engine uses
(model weights, hardened weights, training checkpoints)."""

from __future__ import annotations

import hashlib
from pathlib import Path

CHUNK_BYTES = 1 << 20


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of a byte string."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | Path, *, chunk_bytes: int = CHUNK_BYTES) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (memory stays bounded for any file size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_bytes), b""):
            digest.update(chunk)
    return digest.hexdigest()
