"""Write one run's content into the trail: findings, occurrences, spans, status.

Every step reads or writes in bulk and only where something changed; a run
identical to the one before it reads its track's open spans once and writes none.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, NamedTuple, cast

import msgspec
from sqlalchemy import Table, and_, bindparam, delete, or_, select, text, update
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.identity.keys import IdentifiedFinding
from vulntrail.ingest.spans import SpanEdits, SpanRow, group_by_finding, set_run_content
from vulntrail.ingest.status import Run, TrackRuns, track_status
from vulntrail.ingest.status_store import status_values
from vulntrail.parsers.interface import ParsedFinding
from vulntrail.store import bulk
from vulntrail.store.bulk import chunks
from vulntrail.store.models import Engagement, Finding, Occurrence, Span

SPANS = cast(Table, Span.__table__)
FINDINGS = cast(Table, Finding.__table__)
OCCURRENCES = cast(Table, Occurrence.__table__)
_encode = msgspec.json.Encoder().encode


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


def first_cwe(cwes: Sequence[str]) -> int:
    """`CWE-79` → 79; 0 when there is none (DefectDojo's convention)."""
    for cwe in cwes:
        digits = "".join(ch for ch in cwe if ch in "0123456789")
        if digits:
            return int(digits[:9])
    return 0
