"""The outbox worker: claim due messages, post them, record what happened.

Claiming is safe with any number of server processes. One short write transaction picks
due messages — on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so concurrent workers take
different rows; on SQLite under the write lock every write transaction takes — and leases
them by moving `next_attempt_at` past the time their posts can take. The posts happen
after that commit, outside any transaction, so a slow receiver holds no database lock
and blocks no import. A worker that dies mid-post leaves its messages pending; their
lease runs out and another worker sends them: delivery is at least once, and receivers
deduplicate on `X-Vulntrail-Delivery`.

Outcome: a 2xx answer is `delivered`. Anything else (another status, a timeout, a refused
connection) counts an attempt and schedules the next after a backoff of
base·2^(attempts-1) seconds, capped at one hour, times a random factor in [0.5, 1] so
that retries of many messages spread out. After the last allowed attempt the message is
`failed`. `last_error` and the logs name the HTTP status or the error class, never the
secret nor the URL's path or query (a Slack or Teams URL is itself a credential).
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

import httpx
from sqlalchemy import CursorResult, Select, select, update
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.config import Settings
from vulntrail.ingest.retry import with_retries
from vulntrail.notify import formats
from vulntrail.store.db import Sessions
from vulntrail.store.models import NotificationTarget, OutboxMessage

log = logging.getLogger(__name__)
BATCH = 20
MAX_BACKOFF_SECONDS = 3600.0
LEASE_MARGIN_SECONDS = 30.0
# kind, event, outcome ("delivered", "retry" or "failed"): for metrics.
Observer = Callable[[str, str, str], None]


@dataclass(frozen=True, slots=True)
class Claimed:
    message: formats.Message
    target_id: int
    attempts: int  # before this one
    kind: str
    url: str
    secret: str
    active: bool


@dataclass(frozen=True, slots=True)
class Outcome:
    delivered: bool
    error: str = ""
    final: bool = False  # no point in retrying


def backoff(attempts: int, base: float, jitter: Callable[[], float] = random.random) -> timedelta:
    """Delay after the `attempts`-th failed attempt (1 for the first)."""
    delay = min(MAX_BACKOFF_SECONDS, base * 2.0 ** min(max(attempts - 1, 0), 40))
    return timedelta(seconds=delay * (0.5 + 0.5 * jitter()))


class Deliverer:
    def __init__(
        self,
        sessions: Sessions,
        settings: Settings,
        client: httpx.Client,
        observe: Observer | None = None,
    ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.client = client
        self.observe = observe

    def run_once(self, stop: threading.Event | None = None) -> int:
        """Deliver one batch of due messages; returns how many were claimed."""
        if not self._any_due():
            return 0
        batch = with_retries(self._claim, what="claim notifications")
        for index, claimed in enumerate(batch):
            if stop is not None and stop.is_set():
                with_retries(partial(self._release, batch[index:]), what="release notifications")
                break
            outcome = self._send(claimed)
            with_retries(partial(self._record, claimed, outcome), what="record notification")
        return len(batch)

    def _any_due(self) -> bool:
        # A read first, so an idle worker never takes SQLite's write lock.
        with self.sessions.read() as session:
            return session.scalar(_due(clock.now()).limit(1)) is not None

    def _claim(self) -> list[Claimed]:
        with self.sessions.write() as session:
            now = clock.now()
            statement = _due(now).order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            statement = statement.limit(BATCH)
            if session.get_bind().dialect.name == "postgresql":
                statement = statement.with_for_update(skip_locked=True)
            ids = list(session.scalars(statement))
            if not ids:
                return []
            lease = self.settings.notify_timeout_seconds * len(ids) + LEASE_MARGIN_SECONDS
            session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(next_attempt_at=now + timedelta(seconds=lease))
            )
            return _load(session, ids)

    def _send(self, claimed: Claimed) -> Outcome:
        if not claimed.active:
            return Outcome(False, "the target is inactive", final=True)
        try:
            outgoing = formats.render(claimed.kind, claimed.message, claimed.secret)
        except (KeyError, TypeError, ValueError) as error:
            return Outcome(False, f"cannot render the message: {type(error).__name__}", final=True)
        try:
            response = self.client.post(
                claimed.url, content=outgoing.body, headers=outgoing.headers
            )
        except Exception as error:  # refused, timed out, bad URL: all a failed attempt
            return Outcome(False, _error_text(error, claimed.url))
        if 200 <= response.status_code < 300:
            return Outcome(True)
        return Outcome(False, f"HTTP {response.status_code}")

    def _record(self, claimed: Claimed, outcome: Outcome) -> None:
        now = clock.now()
        attempts = claimed.attempts + 1
        values: dict[str, Any] = {"attempts": attempts, "last_error": outcome.error[:1000]}
        if outcome.delivered:
            label = "delivered"
            values.update(status="delivered", delivered_at=now)
        elif outcome.final or attempts >= self.settings.notify_max_attempts:
            label = "failed"
            values.update(status="failed")
        else:
            label = "retry"
            values.update(
                next_attempt_at=now + backoff(attempts, self.settings.notify_backoff_seconds)
            )
        with self.sessions.write() as session:
            # Only if no other worker recorded this attempt first (after our lease ran out).
            result = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == claimed.message.id,
                    OutboxMessage.status == "pending",
                    OutboxMessage.attempts == claimed.attempts,
                )
                .values(**values)
            )
            if cast(CursorResult[Any], result).rowcount == 0:
                return
        log.log(
            logging.INFO if outcome.delivered else logging.WARNING,
            "notification %d (%s) to target %d at %s: %s%s",
            claimed.message.id,
            claimed.message.event,
            claimed.target_id,
            formats.origin(claimed.url),
            label,
            f" after attempt {attempts}: {outcome.error}" if outcome.error else "",
        )
        if self.observe is not None:
            self.observe(claimed.kind, claimed.message.event, label)

    def _release(self, unsent: Sequence[Claimed]) -> None:
        """Hand back messages claimed but not sent (the server is stopping)."""
        with self.sessions.write() as session:
            for claimed in unsent:
                session.execute(
                    update(OutboxMessage)
                    .where(
                        OutboxMessage.id == claimed.message.id,
                        OutboxMessage.status == "pending",
                        OutboxMessage.attempts == claimed.attempts,
                    )
                    .values(next_attempt_at=clock.now())
                )


def _due(now: datetime) -> Select[tuple[int]]:
    return select(OutboxMessage.id).where(
        OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now
    )


def _load(session: Session, ids: list[int]) -> list[Claimed]:
    rows = session.execute(
        select(OutboxMessage, NotificationTarget)
        .join(NotificationTarget, NotificationTarget.id == OutboxMessage.target_id)
        .where(OutboxMessage.id.in_(ids))
        .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
    )
    return [
        Claimed(
            message=formats.Message(m.id, m.event, m.payload, clock.aware(m.created)),
            target_id=t.id,
            attempts=m.attempts,
            kind=t.kind,
            url=t.url,
            secret=t.secret,
            active=t.active,
        )
        for m, t in rows.tuples()
    ]


def _error_text(error: Exception, url: str) -> str:
    """The error class and message, with the URL (a credential for chat webhooks) cut out."""
    text = str(error).replace(url, formats.origin(url)) or "no details"
    return f"{type(error).__name__}: {text}"[:500]
