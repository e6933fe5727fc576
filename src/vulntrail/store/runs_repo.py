"""What one run (engagement) contained, as it was in that run."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from vulntrail.store.models import Engagement, Finding, Occurrence, Span


@dataclass(frozen=True, slots=True)
class RunFinding:
    finding: Finding
    occurrence: Occurrence
    change: str  # "new", "carried" or "resolved" relative to the previous run of the track


def previous_run(session: Session, engagement: Engagement) -> Engagement | None:
    return session.scalar(
        select(Engagement)
        .where(
            Engagement.track_id == engagement.track_id,
            Engagement.has_runs.is_(True),
            Engagement.run_seq < engagement.run_seq,
        )
        .order_by(Engagement.run_seq.desc())
        .limit(1)
    )


def _content(session: Session, track_id: int, seq: int) -> dict[int, int]:
    rows = session.execute(
        select(Span.finding_id, Span.occurrence_id).where(
            Span.track_id == track_id,
            Span.start_seq <= seq,
            or_(Span.end_seq.is_(None), Span.end_seq >= seq),
        )
    )
    return {finding_id: occurrence_id for finding_id, occurrence_id in rows}


def run_findings(session: Session, engagement: Engagement) -> list[RunFinding]:
    """Findings present in the run (new or carried over) and those it resolved."""
    if not engagement.has_runs:
        return []
    here = _content(session, engagement.track_id, engagement.run_seq)
    before_run = previous_run(session, engagement)
    before = _content(session, engagement.track_id, before_run.run_seq) if before_run else {}
    wanted = {**{f: o for f, o in before.items() if f not in here}, **here}
    out: list[RunFinding] = []
    ids = sorted(wanted)
    for start in range(0, len(ids), 900):
        part = ids[start : start + 900]
        occurrence_ids = [wanted[f] for f in part]
        rows = session.execute(
            select(Finding, Occurrence)
            .join(Occurrence, and_(Occurrence.finding_id == Finding.id))
            .where(Finding.id.in_(part), Occurrence.id.in_(occurrence_ids))
        )
        for finding, occurrence in rows:
            if wanted.get(finding.id) != occurrence.id:
                continue
            if finding.id not in here:
                change = "resolved"
            else:
                change = "carried" if finding.id in before else "new"
            out.append(RunFinding(finding, occurrence, change))
    out.sort(key=lambda item: (-item.occurrence.severity, item.finding.id))
    return out


def run_count(session: Session, track_id: int) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Engagement.track_id == track_id, Engagement.has_runs.is_(True)
            )
        )
        or 0
    )
