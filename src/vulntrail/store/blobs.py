"""Compression of uploaded reports (zstd: fast enough to sit on the import path)."""

from __future__ import annotations

import zstandard

CODEC = "zstd"
_LEVEL = 3


def compress(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=_LEVEL).compress(data)


def decompress(codec: str, data: bytes) -> bytes:
    if codec != CODEC:
        raise ValueError(f"unknown report codec {codec!r}")
    return zstandard.ZstdDecompressor().decompress(data)
