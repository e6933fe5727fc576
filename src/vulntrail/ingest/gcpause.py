"""Pause the cyclic garbage collector while an import runs.

An import allocates hundreds of thousands of short-lived objects that never form
cycles (decoded JSON, parsed findings, rows); the collector's passes over them cost
a fifth of an import's time. Reference counting still frees everything at once;
only cycle detection waits until the last concurrent import is done.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_holders = 0


@contextmanager
def paused_gc() -> Iterator[None]:
    global _holders
    with _lock:
        _holders += 1
        if _holders == 1:
            gc.disable()
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0:
                gc.enable()
