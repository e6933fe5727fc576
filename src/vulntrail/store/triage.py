"""Triage changes made by people, written one way for the API and the web pages.

Triage attaches to the finding's identity, so it holds in every later run (invariant 8).
Each real change is recorded as a `triage_changed` event with who made it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.store.models import Finding, FindingEvent, FindingNote

TRIAGE_FIELDS = (
    "false_p",
    "out_of_scope",
    "risk_accepted",
    "risk_accepted_until",
    "verified",
    "triage_reason",
    "owner",
)


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def apply_triage(session: Session, finding: Finding, changes: dict[str, Any], actor: str) -> bool:
    """Set the triage fields in `changes`; record an event when anything changed.

    Withdrawing a risk acceptance also clears its expiry date. Returns whether the
    finding changed. The caller owns the transaction.
    """
    unknown = set(changes) - set(TRIAGE_FIELDS)
    if unknown:
        raise ValueError(f"not triage fields: {sorted(unknown)}")
    changes = dict(changes)
    if changes.get("risk_accepted") is False:
        changes["risk_accepted_until"] = None
    before = {key: _plain(getattr(finding, key)) for key in changes}
    for key, value in changes.items():
        setattr(finding, key, value)
    after = {key: _plain(value) for key, value in changes.items()}
    if before == after:
        return False
    now = clock.now()
    finding.last_status_update = now
    session.add(
        FindingEvent(
            finding_id=finding.id,
            kind="triage_changed",
            actor=actor,
            details={"old": before, "new": after},
            created=now,
        )
    )
    return True


def add_note(session: Session, finding: Finding, text: str, author: str) -> FindingNote:
    now = clock.now()
    note = FindingNote(finding_id=finding.id, author=author, text=text, created=now)
    session.add(note)
    session.add(
        FindingEvent(
            finding_id=finding.id,
            kind="note_added",
            actor=author,
            details={"text": text[:500]},
            created=now,
        )
    )
    session.flush()
    return note
