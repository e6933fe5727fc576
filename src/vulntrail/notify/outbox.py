"""The outbox: notifications written inside the transaction of the change they report.

A message exists exactly when its change committed; the worker (`notify.delivery`) sends
it afterwards, so a change never waits for, nor fails because of, a receiver.
`enqueue` writes one message per active target that wants the event: the global targets
and those of the event's product. A non-empty `dedup_key` makes a message once-only per
target: enqueueing the same key again writes nothing, so the periodic scans may repeat
as often as they like. Two writers cannot both pass that check: SQLite's write lock
serializes them, and on PostgreSQL the check holds a transaction-level advisory lock.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.store.bulk import chunks
from vulntrail.store.models import NotificationTarget, OutboxMessage

_DEDUP_LOCK = 7238111  # pg_advisory_xact_lock key; 7238110 is the migration lock
Item = tuple[dict[str, Any], str]  # payload, dedup key ("" for none)


def active_targets(
    session: Session, product_ids: Iterable[int] | None = None
) -> list[NotificationTarget]:
    """Active targets: the global ones, and those of `product_ids` (None: of every product)."""
    statement = select(NotificationTarget).where(NotificationTarget.active.is_(True))
    if product_ids is not None:
        ids = sorted(set(product_ids))
        statement = statement.where(
            or_(NotificationTarget.product_id.is_(None), NotificationTarget.product_id.in_(ids))
        )
    return list(session.scalars(statement.order_by(NotificationTarget.id)))


def matching(
    targets: Iterable[NotificationTarget], event: str, product_id: int
) -> list[NotificationTarget]:
    """The targets that want `event` of this product (an empty event list: every event)."""
    return [
        t
        for t in targets
        if t.product_id in (None, product_id) and (not t.events or event in t.events)
    ]


def enqueue(
    session: Session, *, event: str, product_id: int, payload: dict[str, Any], dedup_key: str = ""
) -> int:
    """One message per matching target; returns how many were written."""
    return enqueue_many(session, event=event, product_id=product_id, items=[(payload, dedup_key)])


def enqueue_many(
    session: Session,
    *,
    event: str,
    product_id: int,
    items: Sequence[Item],
    targets: Sequence[NotificationTarget] | None = None,
) -> int:
    """Like `enqueue` for several payloads of one product; `targets`: preloaded candidates."""
    if targets is None:
        targets = active_targets(session, [product_id])
    wanted = matching(targets, event, product_id)
    if not wanted or not items:
        return 0
    keys = sorted({key for _, key in items if key})
    seen = _existing(session, [t.id for t in wanted], keys) if keys else set()
    now = clock.now()
    rows: list[OutboxMessage] = []
    for payload, key in items:
        for target in wanted:
            if key and (target.id, key) in seen:
                continue
            if key:
                seen.add((target.id, key))
            rows.append(
                OutboxMessage(
                    target_id=target.id,
                    event=event,
                    payload=payload,
                    dedup_key=key,
                    status="pending",
                    attempts=0,
                    next_attempt_at=now,
                    last_error="",
                    created=now,
                )
            )
    session.add_all(rows)
    session.flush()
    return len(rows)


def _existing(session: Session, target_ids: list[int], keys: list[str]) -> set[tuple[int, str]]:
    if session.get_bind().dialect.name == "postgresql":
        # Held to commit: a concurrent enqueue of the same keys waits, then sees our rows.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _DEDUP_LOCK})
    found: set[tuple[int, str]] = set()
    for part in chunks(keys):
        rows = session.execute(
            select(OutboxMessage.target_id, OutboxMessage.dedup_key).where(
                OutboxMessage.target_id.in_(target_ids), OutboxMessage.dedup_key.in_(part)
            )
        )
        found.update((tid, key) for tid, key in rows)
    return found
