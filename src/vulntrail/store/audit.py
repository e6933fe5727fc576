"""The audit log: one row per thing a person or pipeline did, written where it happens.

Rows go in the same transaction as the change they describe, so an audit entry exists
exactly when the change does; refusals are written in their own small transaction.
Never put a secret in `details`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.store.models import AuditEvent


def record(
    session: Session,
    actor: str,
    action: str,
    target: str = "",
    *,
    outcome: str = "ok",
    source_ip: str = "",
    **details: Any,
) -> None:
    session.add(
        AuditEvent(
            created=clock.now(),
            actor=actor[:255],
            action=action,
            outcome=outcome,
            target=target,
            source_ip=source_ip[:64],
            details=details,
        )
    )
