"""When to try again, and how long to wait first.

Retrying an import is safe: posting the same report to the same engagement again
changes nothing on vulntrail (and DefectDojo deduplicates it), so a request whose
answer was lost may be sent again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """`attempts` tries in all; waits grow as backoff, 2·backoff, 4·backoff…, capped."""

    attempts: int = 5
    backoff: float = 2.0
    max_wait: float = 60.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def wait(self, attempt: int, retry_after: str | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based).

        A server's Retry-After wins (it knows when it will be free), within max_wait;
        otherwise exponential backoff with jitter, so that many jobs that failed at
        the same moment do not come back at the same moment.
        """
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return min(asked, self.max_wait)
        base = self.backoff * 2.0 ** (attempt - 1)
        return min(base * random.uniform(0.5, 1.0), self.max_wait)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds: either a number of seconds or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())
