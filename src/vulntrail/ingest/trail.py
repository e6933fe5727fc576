"""Write one run's content into the trail: findings, occurrences, spans, status.

Every step reads or writes in bulk and only where something changed; a run
identical to the one before it reads its track's open spans once and writes none.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple, TypeVar, cast

import msgspec
from sqlalchemy import Row, Table, and_, bindparam, delete, or_, select, text, update
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.identity.keys import IdentifiedFinding
from vulntrail.ingest.spans import SpanEdits, SpanRow, group_by_finding, set_run_content
from vulntrail.ingest.status import Run, TrackRuns, TrackStatus, track_status
from vulntrail.parsers.interface import ParsedFinding
from vulntrail.store import bulk
from vulntrail.store.models import Engagement, Finding, Occurrence, Product, Span, Track

SPANS = cast(Table, Span.__table__)
FINDINGS = cast(Table, Finding.__table__)
OCCURRENCES = cast(Table, Occurrence.__table__)
_encode = msgspec.json.Encoder().encode
CHUNK = 900  # bound parameters per IN (…) list, under every backend's limit
T = TypeVar("T")


@dataclass(slots=True)
class Known:
    """What the store already knows of a finding, as read for this import."""

    finding_id: int
    severity: int  # severity of the occurrence this finding has in the window
    false_p: bool
    out_of_scope: bool
    risk_accepted: bool
    verified: bool


@dataclass(slots=True)
class Window:
    """The track around run `seq`: its runs and the spans that touch [prev, nxt]."""

    track_id: int
    runs: TrackRuns
    seq: int
    prev: Run | None
    nxt: Run | None
    spans: dict[int, list[SpanRow]]
    by_identity: dict[bytes, int]
    occurrence_ids: dict[tuple[int, bytes], int]
    occurrence_severity: dict[int, int]
    triage: dict[int, Triage]

    def content_at(self, seq: int | None) -> dict[int, int]:
        """Finding id → occurrence id of every finding present in run `seq`."""
        if seq is None:
            return {}
        out: dict[int, int] = {}
        for finding_id, rows in self.spans.items():
            for row in rows:
                if row.covers(seq):
                    out[finding_id] = row.occurrence_id
        return out


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def track_runs(session: Session, track_id: int, including: Engagement) -> TrackRuns:
    rows = session.execute(
        select(Engagement.run_seq, Engagement.id, Engagement.run_at).where(
            Engagement.track_id == track_id,
            or_(Engagement.has_runs.is_(True), Engagement.id == including.id),
        )
    )
    return TrackRuns([Run(seq, eid, clock.aware(at)) for seq, eid, at in rows])


class Triage(NamedTuple):
    false_p: bool
    out_of_scope: bool
    risk_accepted: bool
    risk_accepted_until: date | None
    verified: bool


# Plain SQL: the window is the one read every import does in full, and untyped rows
# skip SQLAlchemy's per-value result processing.
_WINDOW_SQL = """
SELECT s.id, s.finding_id, s.occurrence_id, s.start_seq, s.end_seq,
       f.identity, o.attrs_hash, o.severity
FROM spans s
JOIN findings f ON f.id = s.finding_id
JOIN occurrences o ON o.id = s.occurrence_id
WHERE s.track_id = :track AND {ends} {upper}
"""


def load_window(
    session: Session, product_id: int, track_id: int, runs: TrackRuns, seq: int
) -> Window:
    prev, nxt = runs.before(seq), runs.after(seq)
    low = prev.seq if prev is not None else seq
    upper = "AND s.start_seq <= :high" if nxt is not None else ""
    params = {"track": track_id, "low": low, "high": nxt.seq if nxt is not None else None}
    window = Window(
        track_id, runs, seq, prev, nxt, {}, {}, {}, {}, load_triage(session, product_id)
    )
    rows: list[SpanRow] = []
    # Two index range scans instead of one OR that no index serves.
    for ends in ("s.end_seq IS NULL", "s.end_seq >= :low"):
        query = text(_WINDOW_SQL.format(ends=ends, upper=upper))
        for span_id, fid, occ, start, end, identity, attrs_hash, severity in session.execute(
            query, params
        ):
            rows.append(SpanRow(span_id, fid, occ, start, end))
            window.by_identity[bytes(identity)] = fid
            window.occurrence_ids[(fid, bytes(attrs_hash))] = occ
            window.occurrence_severity[occ] = severity
    window.spans = group_by_finding(rows)
    return window


def load_triage(session: Session, product_id: int) -> dict[int, Triage]:
    """Findings of the product with any triage mark; the rest have none."""
    statement = select(
        Finding.id,
        Finding.false_p,
        Finding.out_of_scope,
        Finding.risk_accepted,
        Finding.risk_accepted_until,
        Finding.verified,
    ).where(
        Finding.product_id == product_id,
        or_(
            Finding.false_p.is_(True),
            Finding.out_of_scope.is_(True),
            Finding.risk_accepted.is_(True),
            Finding.verified.is_(True),
        ),
    )
    return {row[0]: Triage(*row[1:]) for row in session.execute(statement)}


def resolve_findings(
    session: Session,
    product_id: int,
    items: Sequence[IdentifiedFinding],
    window: Window,
    *,
    default: bool,
) -> tuple[list[int], set[int]]:
    """The finding id of every item (created where new), and the ids created now."""
    missing = list({item.identity for item in items if item.identity not in window.by_identity})
    found: dict[bytes, int] = {}
    any_stored = session.scalar(select(Finding.id).where(Finding.product_id == product_id).limit(1))
    for part in chunks(missing) if any_stored is not None else ():
        statement = select(Finding.id, Finding.identity).where(
            Finding.product_id == product_id, Finding.identity.in_(part)
        )
        for finding_id, identity in session.execute(statement):
            found[identity] = finding_id
    absent = set(missing) - found.keys()
    to_create = [item for item in items if item.identity in absent]
    created = _insert_findings(
        session, product_id, to_create, new_finding_status(window, default=default), window
    )
    found.update(created)
    ids = [window.by_identity.get(item.identity) or found[item.identity] for item in items]
    return ids, set(created.values())


def new_finding_status(window: Window, *, default: bool) -> dict[str, Any]:
    """The stored status of a finding first seen in this run: its only span is this run
    (to the newest run, or to this run alone when newer runs exist and lack it)."""
    nxt = window.nxt.seq if window.nxt is not None else None
    span = SpanRow(None, 0, 0, window.seq, None if nxt is None else window.seq)
    status = track_status([span], window.runs) if default else None
    values = status_values(status)
    values.pop("occurrence_id")
    return values


def _insert_findings(
    session: Session,
    product_id: int,
    items: Sequence[IdentifiedFinding],
    status: dict[str, Any],
    window: Window,
) -> dict[bytes, int]:
    """Insert new findings together with the occurrence each is first seen with."""
    if not items:
        return {}
    finding_ids = bulk.reserve_ids(session, FINDINGS, len(items))
    occurrence_ids = bulk.reserve_ids(session, OCCURRENCES, len(items))
    now = clock.now()
    values = [
        {
            "product_id": product_id,
            "identity": item.identity,
            "kind": item.finding.kind.value,
            "rule_id": item.finding.rule_id[:255],
            "package_name": item.finding.package_name[:255],
            "location": item.location,
            "resource": item.finding.resource,
            "severity": int(item.finding.severity),
            "title": item.finding.title,
            "installed_version": item.finding.installed_version[:255],
            "fixed_version": item.finding.fixed_version,
            "cwe": first_cwe(item.finding.cwes),
            **status,
            "occurrence_id": occurrence_id,
            "verified": False,
            "false_p": False,
            "out_of_scope": False,
            "risk_accepted": False,
            "created": now,
            "last_status_update": now,
        }
        for item, occurrence_id in zip(items, occurrence_ids, strict=True)
    ]
    bulk.insert_many(session, FINDINGS, values, ids=finding_ids)
    _insert_occurrences(session, list(zip(finding_ids, items, strict=True)), window, occurrence_ids)
    return {item.identity: new_id for item, new_id in zip(items, finding_ids, strict=True)}


def resolve_occurrences(
    session: Session, items: Sequence[IdentifiedFinding], finding_ids: Sequence[int], window: Window
) -> list[int]:
    """The occurrence id of every item, inserting attribute sets not stored yet."""
    wanted = {(fid, item.attrs_hash) for fid, item in zip(finding_ids, items, strict=True)}
    missing = [key for key in wanted if key not in window.occurrence_ids]
    if missing:
        for part in chunks(sorted({fid for fid, _ in missing})):
            rows = session.execute(
                select(
                    Occurrence.id, Occurrence.finding_id, Occurrence.attrs_hash, Occurrence.severity
                ).where(Occurrence.finding_id.in_(part))
            )
            for row in rows:
                window.occurrence_ids[(row.finding_id, row.attrs_hash)] = row.id
                window.occurrence_severity[row.id] = row.severity
        new = [
            (fid, item)
            for fid, item in zip(finding_ids, items, strict=True)
            if (fid, item.attrs_hash) not in window.occurrence_ids
        ]
        _insert_occurrences(session, new, window)
    return [
        window.occurrence_ids[(fid, item.attrs_hash)]
        for fid, item in zip(finding_ids, items, strict=True)
    ]


def _insert_occurrences(
    session: Session,
    new: Sequence[tuple[int, IdentifiedFinding]],
    window: Window,
    ids: Sequence[int] | None = None,
) -> None:
    unique = {(fid, item.attrs_hash): (fid, item) for fid, item in new}
    if not unique:
        return
    now = clock.now()
    values: list[dict[str, Any]] = [
        {
            "finding_id": fid,
            "attrs_hash": item.attrs_hash,
            "severity": int(item.finding.severity),
            "title": item.finding.title,
            "installed_version": item.finding.installed_version[:255],
            "fixed_version": item.finding.fixed_version,
            "attrs": occurrence_attrs(item.finding, item.target),
            "created": now,
        }
        for fid, item in unique.values()
    ]
    inserted = bulk.insert_many(session, OCCURRENCES, values, ids=ids)
    for row, new_id in zip(values, inserted, strict=True):
        window.occurrence_ids[(row["finding_id"], row["attrs_hash"])] = new_id
        window.occurrence_severity[new_id] = row["severity"]


def occurrence_attrs(item: ParsedFinding, target: str) -> msgspec.Raw:
    """Every reported attribute, as the parser's own JSON (field names of ParsedFinding),
    with the target written without this build's image tag."""
    return msgspec.Raw(_encode(msgspec.structs.replace(item, target=target)))


def apply_run(
    session: Session, track_id: int, window: Window, desired: dict[int, int]
) -> SpanEdits:
    prev = window.prev.seq if window.prev else None
    nxt = window.nxt.seq if window.nxt else None
    edits = set_run_content(window.spans, window.seq, prev, nxt, desired)
    if edits.deleted:
        for part in chunks(sorted(edits.deleted)):
            session.execute(delete(Span).where(Span.id.in_(part)))
    if edits.updated:
        session.execute(
            update(SPANS)
            .where(SPANS.c.id == bindparam("span_id"))
            .values(
                occurrence_id=bindparam("occ"),
                start_seq=bindparam("start"),
                end_seq=bindparam("end"),
            ),
            [
                {"span_id": row.id, "occ": row.occurrence_id, "start": row.start, "end": row.end}
                for row in edits.updated.values()
            ],
        )
    if edits.inserted:
        bulk.insert_many(
            session,
            SPANS,
            [
                {
                    "track_id": track_id,
                    "finding_id": row.finding_id,
                    "occurrence_id": row.occurrence_id,
                    "start_seq": row.start,
                    "end_seq": row.end,
                }
                for row in edits.inserted
            ],
        )
    return edits


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


def first_seen_before(
    session: Session, track_id: int, seq: int, finding_ids: Iterable[int]
) -> set[int]:
    """Those of `finding_ids` present on the track in some run before `seq`."""
    ids = sorted(set(finding_ids))
    seen: set[int] = set()
    for part in chunks(ids):
        seen.update(
            session.scalars(
                select(Span.finding_id).where(
                    and_(Span.track_id == track_id, Span.start_seq < seq, Span.finding_id.in_(part))
                )
            )
        )
    return seen


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


def first_cwe(cwes: Sequence[str]) -> int:
    """`CWE-79` → 79; 0 when there is none (DefectDojo's convention)."""
    for cwe in cwes:
        digits = "".join(ch for ch in cwe if ch.isdigit())
        if digits:
            return int(digits[:9])
    return 0
