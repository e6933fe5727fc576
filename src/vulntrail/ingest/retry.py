"""Retry a whole transaction when the database says "busy, try again".

SQLite answers `database is locked` when the busy timeout runs out; PostgreSQL
answers serialization failures and deadlocks; both can lose a connection. None of
those may reach a client as a 500: we retry the whole all-or-nothing transaction,
and after the last attempt answer 503 with a retry hint.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from vulntrail.errors import ServiceUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)
ATTEMPTS = 8
_PG_RETRY_STATES = {"40001", "40P01", "55P03", "57014"}


def is_transient(error: DBAPIError) -> bool:
    if isinstance(error, IntegrityError):
        # A concurrent writer created the same unique row first: retrying finds it.
        # Any other constraint failure is a bug, and retrying would only hide it.
        state = getattr(error.orig, "sqlstate", None)
        return state == "23505" or "UNIQUE constraint failed" in str(error.orig)
    state = getattr(error.orig, "sqlstate", None)
    if state in _PG_RETRY_STATES:
        return True
    if isinstance(error, OperationalError):
        return True  # locked/busy SQLite, lost or refused connection
    return bool(error.connection_invalidated)


def with_retries(action: Callable[[], T], *, what: str = "transaction") -> T:
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return action()
        except DBAPIError as error:
            if not is_transient(error):
                raise
            if attempt == ATTEMPTS:
                log.warning("%s gave up after %d attempts: %s", what, attempt, type(error).__name__)
                raise ServiceUnavailable(
                    "the database is busy or unreachable; retry the request", retry_after=2
                ) from error
            time.sleep(min(2.0, 0.05 * 2**attempt) * random.uniform(0.5, 1.0))
    raise AssertionError("unreachable")
