"""A test's findings as one packed value instead of one row per finding.

Pairs of (finding id, occurrence id) as little-endian int64, sorted by finding id,
zstd-compressed: a 10,000-finding test costs one column of a few dozen kilobytes.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping

import zstandard

_LEVEL = 3


def pack(members: Mapping[int, int]) -> bytes:
    values = array("q")
    for finding_id in sorted(members):
        values.append(finding_id)
        values.append(members[finding_id])
    return zstandard.ZstdCompressor(level=_LEVEL).compress(values.tobytes())


def unpack(blob: bytes) -> dict[int, int]:
    if not blob:
        return {}
    values = array("q")
    values.frombytes(zstandard.ZstdDecompressor().decompress(blob))
    return dict(zip(values[0::2], values[1::2], strict=True))
