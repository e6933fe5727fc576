"""Runs over time: trends per severity, sparklines, and engagement lists with their counts.

Cost follows change, not runs times findings. The findings present in a run are the
spans covering its run_seq, so per track two grouped queries count span starts and
span ends per (run, severity), and a running sum along the runs gives every run's
counts. Only the runs a page shows are loaded (the newest N of a track, or one page
of engagements).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, aliased

from vulntrail import clock
from vulntrail.store.listing import Counts, empty_counts
from vulntrail.store.models import Engagement, Occurrence, Product, Span
from vulntrail.web.queries import default_tracks, open_counts

Edges = tuple[list[tuple[int, Counts]], list[tuple[int, Counts]]]  # (starts, ends) by seq


@dataclass(frozen=True, slots=True)
class RunPoint:
    engagement_id: int
    name: str
    run_at: datetime
    seq: int
    counts: Counts

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True, slots=True)
class ProductRow:
    product: Product
    open: Counts
    trend: list[int]
    latest: Engagement | None

    @property
    def open_total(self) -> int:
        return sum(self.open.values())


@dataclass(frozen=True, slots=True)
class EngagementRow:
    engagement: Engagement
    open: int | None
    new: int | None
    resolved: int | None


def newest_runs(
    session: Session, track_ids: Sequence[int], last: int
) -> dict[int, list[Engagement]]:
    """Track id → its newest `last` runs, oldest first."""
    out: dict[int, list[Engagement]] = defaultdict(list)
    if not track_ids:
        return out
    rank = (
        func.row_number()
        .over(partition_by=Engagement.track_id, order_by=Engagement.run_seq.desc())
        .label("rank")
    )
    ranked = (
        select(Engagement.id, rank)
        .where(Engagement.track_id.in_(track_ids), Engagement.has_runs.is_(True))
        .subquery()
    )
    wanted = select(ranked.c.id).where(ranked.c.rank <= last)
    for engagement in session.scalars(
        select(Engagement)
        .where(Engagement.id.in_(wanted))
        .order_by(Engagement.track_id, Engagement.run_seq)
    ):
        out[engagement.track_id].append(engagement)
    return out


def _edges(session: Session, track_ids: list[int]) -> dict[int, Edges]:
    """Span starts and ends per (seq, severity) of each track, kept for the page view."""
    memo: dict[int, Edges] = session.info.setdefault("vulntrail.span_edges", {})
    missing = [t for t in track_ids if t not in memo]
    if missing:
        starts = _span_edges(session, missing, Span.start_seq)
        ends = _span_edges(session, missing, Span.end_seq)
        for track_id in missing:
            memo[track_id] = (
                sorted(starts.get(track_id, {}).items()),
                sorted(ends.get(track_id, {}).items()),
            )
    return {t: memo[t] for t in track_ids}


def _span_edges(session: Session, track_ids: list[int], edge: Any) -> dict[int, dict[int, Counts]]:
    rows = session.execute(
        select(Span.track_id, edge, Occurrence.severity, func.count())
        .join(Occurrence, Occurrence.id == Span.occurrence_id)
        .where(Span.track_id.in_(track_ids), edge.is_not(None))
        .group_by(Span.track_id, edge, Occurrence.severity)
    )
    out: dict[int, dict[int, Counts]] = defaultdict(lambda: defaultdict(empty_counts))
    for track_id, seq, severity, number in rows:
        out[track_id][int(seq)][int(severity)] += int(number)
    return out


def open_per_run(
    session: Session, runs_by_track: dict[int, list[Engagement]]
) -> dict[int, list[RunPoint]]:
    """Track id → for each given run (in pipeline order), the findings present per severity.

    Present at seq r: spans with start <= r, minus spans with end < r.
    """
    edges = _edges(session, list(runs_by_track))
    out: dict[int, list[RunPoint]] = {}
    for track_id, runs in runs_by_track.items():
        began, ended = edges[track_id]
        running = empty_counts()
        points: list[RunPoint] = []
        b = e = 0
        for run in sorted(runs, key=lambda r: r.run_seq):
            while b < len(began) and began[b][0] <= run.run_seq:
                for severity, number in began[b][1].items():
                    running[severity] += number
                b += 1
            while e < len(ended) and ended[e][0] < run.run_seq:
                for severity, number in ended[e][1].items():
                    running[severity] -= number
                e += 1
            points.append(
                RunPoint(run.id, run.name, clock.aware(run.run_at), run.run_seq, dict(running))
            )
        out[track_id] = points
    return out


def product_rows(
    session: Session,
    today: date,
    *,
    spark_runs: int = 20,
    product_ids: Sequence[int] | None = None,
) -> list[ProductRow]:
    """Each product (of `product_ids`, None: all) with its open counts, a sparkline of
    its recent runs and its newest run."""
    statement = select(Product).order_by(Product.name)
    if product_ids is not None:
        statement = statement.where(Product.id.in_(product_ids))
    products = list(session.scalars(statement))
    ids = [p.id for p in products]
    counts = open_counts(session, today, ids)
    tracks = default_tracks(session, ids)
    runs = newest_runs(session, list(tracks.values()), spark_runs)
    trends = open_per_run(session, runs)
    rows = []
    for product in products:
        track_id = tracks.get(product.id)
        recent = runs.get(track_id, []) if track_id is not None else []
        points = trends.get(track_id, []) if track_id is not None else []
        rows.append(
            ProductRow(
                product,
                counts.get(product.id, empty_counts()),
                [p.total for p in points],
                recent[-1] if recent else None,
            )
        )
    return rows


def product_trend(session: Session, product: Product, *, last: int = 60) -> list[RunPoint]:
    """The findings present per severity in the newest `last` runs of the default branch."""
    track_id = default_tracks(session, [product.id]).get(product.id)
    if track_id is None:
        return []
    return open_per_run(session, newest_runs(session, [track_id], last)).get(track_id, [])


def engagement_rows(
    session: Session, product_id: int, *, limit: int, offset: int
) -> tuple[int, list[EngagementRow]]:
    """A product's engagements, newest first, with present / new / resolved counts."""
    total = session.scalar(
        select(func.count()).select_from(Engagement).where(Engagement.product_id == product_id)
    )
    engagements = list(
        session.scalars(
            select(Engagement)
            .where(Engagement.product_id == product_id)
            .order_by(Engagement.run_at.desc(), Engagement.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )
    with_runs = [e for e in engagements if e.has_runs]
    by_track: dict[int, list[Engagement]] = defaultdict(list)
    for engagement in with_runs:
        by_track[engagement.track_id].append(engagement)
    points = {p.engagement_id: p for pts in open_per_run(session, by_track).values() for p in pts}
    changes = _changes(session, with_runs, _previous_seqs(session, with_runs))
    rows = []
    for engagement in engagements:
        point = points.get(engagement.id)
        new, resolved = changes.get(engagement.id, (None, None))
        rows.append(EngagementRow(engagement, point.total if point else None, new, resolved))
    return int(total or 0), rows


def _previous_seqs(session: Session, engagements: list[Engagement]) -> dict[int, int | None]:
    """Engagement id → run_seq of the run before it on its track (None for the first)."""
    if not engagements:
        return {}
    earlier = aliased(Engagement)
    previous = (
        select(func.max(earlier.run_seq))
        .where(
            earlier.track_id == Engagement.track_id,
            earlier.has_runs.is_(True),
            earlier.run_seq < Engagement.run_seq,
        )
        .scalar_subquery()
    )
    rows = session.execute(
        select(Engagement.id, previous).where(Engagement.id.in_([e.id for e in engagements]))
    )
    return {engagement_id: seq for engagement_id, seq in rows}


def _changes(
    session: Session, engagements: list[Engagement], previous: dict[int, int | None]
) -> dict[int, tuple[int, int]]:
    """Engagement id → (new, resolved) relative to the previous run of its track.

    A span starting at the run is new unless a span of the same finding ended with the
    previous run (then only its attributes changed); the reverse gives resolved.
    """
    out: dict[int, tuple[int, int]] = {}
    for track_id in sorted({e.track_id for e in engagements}):
        mine = [e for e in engagements if e.track_id == track_id]
        seqs = {e.run_seq for e in mine}
        before = {p for e in mine if (p := previous.get(e.id)) is not None}
        started: dict[int, set[int]] = defaultdict(set)
        finished: dict[int, set[int]] = defaultdict(set)
        for finding_id, start, end in session.execute(
            select(Span.finding_id, Span.start_seq, Span.end_seq).where(
                Span.track_id == track_id,
                or_(Span.start_seq.in_(seqs), Span.end_seq.in_(before or {-1})),
            )
        ):
            started[int(start)].add(finding_id)
            if end is not None:
                finished[int(end)].add(finding_id)
        for engagement in mine:
            prev = previous.get(engagement.id)
            here = started.get(engagement.run_seq, set())
            gone = finished.get(prev, set()) if prev is not None else set()
            out[engagement.id] = (len(here - gone), len(gone - here))
    return out
