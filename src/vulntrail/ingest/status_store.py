"""The stored status of findings, recomputed from their spans where they changed.

On the default branch the status is the product-level one (present, first and last
seen, resolved by, reopen count, newest attributes); on other branches only findings
never seen on the default branch take their attributes from the branch.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from sqlalchemy import Row, Table, bindparam, select, update
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.ingest.spans import SpanRow
from vulntrail.ingest.status import Run, TrackRuns, TrackStatus, track_status
from vulntrail.store.bulk import chunks
from vulntrail.store.models import Engagement, Finding, Occurrence, Product, Span, Track

FINDINGS = cast(Table, Finding.__table__)


def refresh_status(
    session: Session, track_id: int, runs: TrackRuns, finding_ids: Iterable[int], *, default: bool
) -> None:
    """Recompute the stored status of these findings from their spans on this track.

    On the default branch this is the product-level status; on another branch only
    findings never seen on the default branch take their attributes from it.
    """
    ids = sorted(set(finding_ids))
    if not ids:
        return
    spans: dict[int, list[SpanRow]] = {}
    current: dict[int, Row[Any]] = {}
    for part in chunks(ids):
        for row in session.execute(
            select(
                Span.id, Span.finding_id, Span.occurrence_id, Span.start_seq, Span.end_seq
            ).where(Span.track_id == track_id, Span.finding_id.in_(part))
        ):
            spans.setdefault(row.finding_id, []).append(
                SpanRow(row.id, row.finding_id, row.occurrence_id, row.start_seq, row.end_seq)
            )
        for status_row in session.execute(
            select(
                Finding.id,
                Finding.on_default_branch,
                Finding.present,
                Finding.occurrence_id,
                Finding.first_seen_engagement_id,
                Finding.last_seen_engagement_id,
                Finding.mitigated_engagement_id,
                Finding.reopen_count,
            ).where(Finding.id.in_(part))
        ):
            current[status_row.id] = status_row
    changes = _status_changes(spans, current, runs, default=default)
    _write_status(session, changes)


def _status_changes(
    spans: dict[int, list[SpanRow]], current: dict[int, Row[Any]], runs: TrackRuns, *, default: bool
) -> list[dict[str, Any]]:
    changes: list[dict[str, Any]] = []
    for finding_id, row in current.items():
        status = track_status(spans.get(finding_id, []), runs)
        if not default:
            if row.on_default_branch or status is None or status.occurrence_id == row.occurrence_id:
                continue
            changes.append({"fid": finding_id, "occurrence_id": status.occurrence_id})
            continue
        values = status_values(status, keep_occurrence=row.occurrence_id)
        if _differs(row, values):
            changes.append({"fid": finding_id, **values})
    return changes


def status_values(status: TrackStatus | None, keep_occurrence: int | None = None) -> dict[str, Any]:
    """Finding columns for a status on the default branch (None: not on it)."""
    if status is None:
        return {
            "on_default_branch": False,
            "present": False,
            "occurrence_id": keep_occurrence,
            "first_seen_engagement_id": None,
            "first_seen_at": None,
            "last_seen_engagement_id": None,
            "last_seen_at": None,
            "mitigated_engagement_id": None,
            "mitigated_at": None,
            "reopen_count": 0,
        }
    resolved = status.resolved_by
    return {
        "on_default_branch": True,
        "present": status.open,
        "occurrence_id": status.occurrence_id,
        "first_seen_engagement_id": status.first_seen.engagement_id,
        "first_seen_at": status.first_seen.run_at,
        "last_seen_engagement_id": None if status.open else status.last_seen.engagement_id,
        "last_seen_at": None if status.open else status.last_seen.run_at,
        "mitigated_engagement_id": resolved.engagement_id if resolved else None,
        "mitigated_at": resolved.run_at if resolved else None,
        "reopen_count": status.reopen_count,
    }


def _differs(row: Row[Any], values: dict[str, Any]) -> bool:
    mapping = row._mapping
    return any(key in mapping and mapping[key] != value for key, value in values.items())


def _write_status(session: Session, changes: list[dict[str, Any]]) -> None:
    """Write status changes, and the attributes of each finding's newest occurrence."""
    if not changes:
        return
    now = clock.now()
    occurrence_ids = sorted(
        {change["occurrence_id"] for change in changes if change["occurrence_id"]}
    )
    attrs: dict[int, Row[Any]] = {}
    for part in chunks(occurrence_ids):
        for row in session.execute(
            select(
                Occurrence.id,
                Occurrence.severity,
                Occurrence.title,
                Occurrence.installed_version,
                Occurrence.fixed_version,
            ).where(Occurrence.id.in_(part))
        ):
            attrs[row.id] = row
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for change in changes:
        occ = attrs.get(change["occurrence_id"])
        if occ is not None:
            change.update(
                severity=occ.severity,
                title=occ.title,
                installed_version=occ.installed_version,
                fixed_version=occ.fixed_version,
            )
        change["last_status_update"] = now
        groups.setdefault(tuple(sorted(change)), []).append(change)
    table = FINDINGS
    for keys, rows in groups.items():
        # Bound names must differ from column names in an executemany UPDATE.
        columns: dict[str, Any] = {key: bindparam("v_" + key) for key in keys if key != "fid"}
        params = [{"v_" + key: value for key, value in row.items()} for row in rows]
        session.execute(
            update(table).where(table.c.id == bindparam("v_fid")).values(columns), params
        )


def rebuild_product_status(session: Session, product: Product) -> None:
    """Re-derive every finding's product-level status from the (new) default branch."""
    track_id = session.scalar(
        select(Track.id).where(
            Track.product_id == product.id, Track.branch == product.default_branch
        )
    )
    runs = TrackRuns([])
    if track_id is not None:
        rows = session.execute(
            select(Engagement.run_seq, Engagement.id, Engagement.run_at).where(
                Engagement.track_id == track_id, Engagement.has_runs.is_(True)
            )
        )
        runs = TrackRuns([Run(seq, eid, clock.aware(at)) for seq, eid, at in rows])
    ids = list(session.scalars(select(Finding.id).where(Finding.product_id == product.id)))
    refresh_status(session, track_id if track_id is not None else -1, runs, ids, default=True)
