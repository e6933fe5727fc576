"""Runs of a track: which run came before another."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from vulntrail.store.models import Engagement


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
