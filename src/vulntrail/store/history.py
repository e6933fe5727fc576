"""A finding's trail as events, derived from its spans (and triage events).

Per track, in pipeline order:
* `introduced`  — the first run of the first span;
* `version_changed` / `severity_changed` / `attributes_changed` — two spans that
  meet without a run between them: same finding, new attributes;
* `resolved` — the run right after a span that another run does not continue;
* `reopened` — a span that starts after a gap.
"Still present" is implied between events. Triage changes come from
`finding_events`, in time order, merged by time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.ingest.spans import SpanRow
from vulntrail.ingest.status import Run, TrackRuns
from vulntrail.parsers.interface import Severity
from vulntrail.store.models import (
    Engagement,
    Finding,
    FindingEvent,
    Occurrence,
    Product,
    Span,
    Track,
)


@dataclass(frozen=True, slots=True)
class Event:
    event: str
    at: datetime
    branch: str | None = None
    engagement_id: int | None = None
    engagement_name: str | None = None
    commit_hash: str | None = None
    actor: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {
            "event": self.event,
            "date": clock.aware(self.at).isoformat(),
            "branch": self.branch,
            "engagement": self.engagement_id,
            "engagement_name": self.engagement_name,
            "commit_hash": self.commit_hash or None,
            "actor": self.actor,
            "details": self.details,
        }


def finding_history(
    session: Session, finding: Finding, *, all_branches: bool = True
) -> list[Event]:
    product = session.get(Product, finding.product_id)
    assert product is not None
    tracks = session.scalars(select(Track).where(Track.product_id == finding.product_id)).all()
    events: list[Event] = []
    for track in tracks:
        if not all_branches and track.branch != product.default_branch:
            continue
        events.extend(_track_events(session, finding.id, track))
    for row in session.scalars(
        select(FindingEvent).where(FindingEvent.finding_id == finding.id).order_by(FindingEvent.id)
    ):
        events.append(
            Event(row.kind, clock.aware(row.created), actor=row.actor, details=row.details)
        )
    return sorted(events, key=lambda event: clock.aware(event.at))


def _track_events(session: Session, finding_id: int, track: Track) -> list[Event]:
    spans = [
        SpanRow(row.id, row.finding_id, row.occurrence_id, row.start_seq, row.end_seq)
        for row in session.execute(
            select(Span.id, Span.finding_id, Span.occurrence_id, Span.start_seq, Span.end_seq)
            .where(Span.track_id == track.id, Span.finding_id == finding_id)
            .order_by(Span.start_seq)
        )
    ]
    if not spans:
        return []
    engagements = {
        row.run_seq: row
        for row in session.scalars(
            select(Engagement).where(Engagement.track_id == track.id, Engagement.has_runs.is_(True))
        )
    }
    runs = TrackRuns([Run(seq, e.id, clock.aware(e.run_at)) for seq, e in engagements.items()])
    attrs = {
        row.id: row
        for row in session.scalars(
            select(Occurrence).where(Occurrence.id.in_({span.occurrence_id for span in spans}))
        )
    }

    def event(kind: str, run: Run, **details: Any) -> Event:
        engagement = engagements[run.seq]
        return Event(
            kind,
            run.run_at,
            track.branch,
            engagement.id,
            engagement.name,
            engagement.commit_hash,
            details=details,
        )

    out: list[Event] = []
    previous: SpanRow | None = None
    for index, span in enumerate(spans):
        start = runs.at(span.start)
        occurrence = attrs[span.occurrence_id]
        if previous is None:
            out.append(event("introduced", start, **_described(occurrence)))
        else:
            assert previous.end is not None
            following = runs.after(previous.end)
            if following is not None and following.seq == span.start:
                out.extend(_changes(event, start, attrs[previous.occurrence_id], occurrence))
            else:
                out.append(event("reopened", start, **_described(occurrence)))
        if span.end is not None:
            resolved_by = runs.after(span.end)
            following_span = spans[index + 1] if index + 1 < len(spans) else None
            continued = (
                resolved_by is not None
                and following_span is not None
                and following_span.start == resolved_by.seq
            )
            if resolved_by is not None and not continued:
                out.append(
                    event("resolved", resolved_by, last_seen_engagement=engagements[span.end].id)
                )
        previous = span
    return out


def _described(occurrence: Occurrence) -> dict[str, Any]:
    return {
        "severity": Severity(occurrence.severity).label,
        "component_version": occurrence.installed_version or None,
        "fixed_version": occurrence.fixed_version or None,
    }


def _changes(event: Any, run: Run, before: Occurrence, after: Occurrence) -> list[Event]:
    out = []
    if before.installed_version != after.installed_version:
        out.append(
            event("version_changed", run, old=before.installed_version, new=after.installed_version)
        )
    if before.severity != after.severity:
        out.append(
            event(
                "severity_changed",
                run,
                old=Severity(before.severity).label,
                new=Severity(after.severity).label,
            )
        )
    if not out:
        changed = sorted(
            k
            for k in set(before.attrs) | set(after.attrs)
            if before.attrs.get(k) != after.attrs.get(k)
        )
        out.append(event("attributes_changed", run, fields=changed))
    return out
