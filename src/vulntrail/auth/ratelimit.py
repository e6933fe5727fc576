"""Slow down guessing: failed logins and token attempts per client address.

A fixed budget of failures per window (default 20 a minute per address); past it
every attempt from that address is refused with 429 until the window moves on,
whether the guess would have been right or not. Kept in memory per server process:
several processes each enforce their own budget, which still bounds guessing.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class FailureLimiter:
    max_failures: int = 20
    window_seconds: float = 60.0
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, key: str, now: float | None = None) -> int:
        """Seconds until `key` may try again; 0 when it may try now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._recent(key, now)
            if len(recent) < self.max_failures:
                return 0
            return max(1, int(recent[0] + self.window_seconds - now) + 1)

    def failed(self, key: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(key, now).append(now)
            if len(self._failures) > 10_000:  # bound memory under a spray of addresses
                stale = [
                    k
                    for k, v in self._failures.items()
                    if not v or v[-1] < now - self.window_seconds
                ]
                for k in stale:
                    del self._failures[k]

    def _recent(self, key: str, now: float) -> deque[float]:
        recent = self._failures.setdefault(key, deque())
        while recent and recent[0] <= now - self.window_seconds:
            recent.popleft()
        return recent
