"""The import use case: a report in, the trail updated, all or nothing.

The expensive, database-free work (parse, identify, hash, compress) happens
before the transaction opens, so concurrent imports hold locks only while they
write. The transaction then resolves the target, replays a retry as a no-op,
and writes findings, occurrences, spans, status and the test in one go.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.config import Settings
from vulntrail.errors import BadRequest
from vulntrail.identity.keys import IdentifiedFinding, identify
from vulntrail.ingest import context, members, statistics, status_store, trail
from vulntrail.ingest.gcpause import paused_gc
from vulntrail.ingest.request import ImportRequest, ImportResult
from vulntrail.ingest.retry import with_retries
from vulntrail.notify import triggers
from vulntrail.parsers.interface import ParsedReport, ReportError
from vulntrail.parsers.trivy import parse_trivy
from vulntrail.store import audit, blobs
from vulntrail.store.bulk import chunks
from vulntrail.store.db import Sessions
from vulntrail.store.models import Finding, Occurrence, Report, Scan

PARSERS: dict[str, Callable[[bytes], ParsedReport]] = {"Trivy Scan": parse_trivy}


@dataclass(frozen=True, slots=True)
class Prepared:
    report: ParsedReport
    items: list[IdentifiedFinding]
    sha256: str
    compressed: bytes
    size: int


def prepare(request: ImportRequest) -> Prepared:
    """Parse and identify the report; raises BadRequest naming what is wrong with it."""
    parser = PARSERS.get(request.scan_type)
    if parser is None:
        supported = ", ".join(sorted(PARSERS))
        raise BadRequest(
            f"scan_type {request.scan_type!r} is not supported; supported: {supported}",
            field="scan_type",
        )
    # Hashing and compressing release the GIL: do them while the parser runs.
    digest_and_blob = _BACKGROUND.submit(_digest_and_compress, request.report)
    try:
        report = parser(request.report)
    except ReportError as error:
        digest_and_blob.cancel()
        raise BadRequest(
            f"the file is not a valid {request.scan_type} report: {error}", field="file"
        ) from None
    minimum = request.minimum_severity
    items = [item for item in identify(report) if item.finding.severity >= minimum]
    sha256, compressed = digest_and_blob.result()
    return Prepared(
        report=report, items=items, sha256=sha256, compressed=compressed, size=len(request.report)
    )


_BACKGROUND = ThreadPoolExecutor(max_workers=2, thread_name_prefix="vulntrail-blob")


def _digest_and_compress(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), blobs.compress(data)


class ImportService:
    def __init__(self, sessions: Sessions, settings: Settings) -> None:
        self.sessions = sessions
        self.settings = settings

    def run(self, request: ImportRequest) -> ImportResult:
        with paused_gc():
            started = time.perf_counter()
            prepared = prepare(request)
            parsed = time.perf_counter()
            result = with_retries(lambda: self._write(request, prepared), what="import")
            result.timings.update(parse=parsed - started, store=time.perf_counter() - parsed)
            return result

    def _write(self, request: ImportRequest, prepared: Prepared) -> ImportResult:
        with self.sessions.write() as session:
            target = context.resolve(session, request, self.settings)
            result = _replay(session, target, request, prepared)
            if result is None:
                context.note_run_details(target.engagement, request)
                result = _record(session, target, request, prepared)
            audit.record(
                session,
                request.actor or "system",
                request.mode.value,
                f"{target.product.name}/{target.engagement.name}/test {result.test_id}",
                findings=len(prepared.items),
                changed=result.changed,
                sha256=prepared.sha256,
            )
            return result


def _replay(
    session: Session, target: context.Target, request: ImportRequest, prepared: Prepared
) -> ImportResult | None:
    """The same report again for the same engagement (a CI retry) changes nothing."""
    scan = target.scan
    if scan is None or scan.report_sha256 != prepared.sha256:
        scan = session.scalar(
            select(Scan)
            .where(
                Scan.engagement_id == target.engagement.id,
                Scan.scan_type == request.scan_type,
                Scan.report_sha256 == prepared.sha256,
            )
            .limit(1)
        )
    if scan is None:
        return None
    return ImportResult(
        test_id=scan.id,
        engagement_id=target.engagement.id,
        product_id=target.product.id,
        product_type_id=target.product.prod_type_id,
        statistics=statistics.unchanged(scan.statistics),
        changed=False,
    )


def _record(
    session: Session, target: context.Target, request: ImportRequest, prepared: Prepared
) -> ImportResult:
    product, engagement, track = target.product, target.engagement, target.track
    runs = trail.track_runs(session, track.id, including=engagement)
    window = trail.load_window(session, product.id, track.id, runs, engagement.run_seq)
    default = track.branch == product.default_branch
    finding_ids, created_ids = trail.resolve_findings(
        session, product.id, prepared.items, window, default=default
    )
    occurrence_ids = trail.resolve_occurrences(session, prepared.items, finding_ids, window)
    test_members = dict(zip(finding_ids, occurrence_ids, strict=True))

    desired = _other_tests_content(session, engagement.id, target.scan)
    desired.update(test_members)
    previous = window.content_at(window.prev.seq if window.prev else None)

    edits = trail.apply_run(session, track.id, window, desired)
    engagement.has_runs = True
    # Findings created by this import were written with their status already.
    affected = edits.changed_findings - created_ids
    if window.prev is not None:
        # A run slotted in right after a finding's last run becomes its resolving run.
        prev_seq = window.prev.seq
        affected.update(
            fid for fid, rows in window.spans.items() if any(r.end == prev_seq for r in rows)
        )
    status_store.refresh_status(session, track.id, runs, affected, default=default)
    if request.verified:
        _mark_verified(session, test_members.keys(), window)

    old_members = members.unpack(target.scan.members) if target.scan is not None else {}
    stats = _statistics(
        session, window, request, test_members, old_members, previous, desired, created_ids
    )
    scan = _save_scan(session, target, request, prepared, test_members, stats)
    for part in chunks(sorted(created_ids)):
        session.execute(update(Finding).where(Finding.id.in_(part)).values(first_test_id=scan.id))
    triggers.on_import(session, target, scan, window, test_members, previous, old_members)
    return ImportResult(
        test_id=scan.id,
        engagement_id=engagement.id,
        product_id=product.id,
        product_type_id=product.prod_type_id,
        statistics=stats,
        changed=True,
    )


def _other_tests_content(
    session: Session, engagement_id: int, replaced: Scan | None
) -> dict[int, int]:
    """The run holds the union of its tests; a re-imported test's old content is left out."""
    statement = select(Scan.members).where(Scan.engagement_id == engagement_id).order_by(Scan.id)
    if replaced is not None:
        statement = statement.where(Scan.id != replaced.id)
    content: dict[int, int] = {}
    for blob in session.scalars(statement):
        content.update(members.unpack(blob))
    return content


def _mark_verified(session: Session, finding_ids: Iterable[int], window: trail.Window) -> None:
    todo = [
        fid for fid in finding_ids if not (fid in window.triage and window.triage[fid].verified)
    ]
    for part in chunks(sorted(todo)):
        session.execute(update(Finding).where(Finding.id.in_(part)).values(verified=True))


def _statistics(
    session: Session,
    window: trail.Window,
    request: ImportRequest,
    test_members: dict[int, int],
    old_members: dict[int, int],
    previous: dict[int, int],
    desired: dict[int, int],
    created_ids: set[int],
) -> dict[str, Any]:
    severity = _severities(session, window, [*old_members.values(), *desired.values()])
    today = clock.now().date()
    status_bits: dict[int, int] = {}

    def bits(fid: int) -> int:
        if fid not in status_bits:
            row = window.triage.get(fid)
            value = statistics.VERIFIED if request.verified or (row and row.verified) else 0
            hidden = False
            if row is not None:
                for flag, bit in (
                    (row.false_p, statistics.FALSE_P),
                    (row.out_of_scope, statistics.OUT_OF_SCOPE),
                ):
                    if flag:
                        value |= bit
                        hidden = True
                if row.risk_accepted and _acceptance_valid(row, today):
                    value |= statistics.RISK_ACCEPTED
                    hidden = True
            status_bits[fid] = value if hidden else value | statistics.ACTIVE
        return status_bits[fid]

    def counted(pairs: Iterable[tuple[int, int]]) -> list[statistics.Counted]:
        return [(severity.get(occ, 0), bits(fid)) for fid, occ in pairs]

    def closed(pairs: Iterable[tuple[int, int]]) -> list[statistics.Counted]:
        return [
            (severity.get(occ, 0), (bits(fid) & ~statistics.ACTIVE) | statistics.IS_MITIGATED)
            for fid, occ in pairs
        ]

    new_in_run = [fid for fid in desired if fid not in previous]
    seen = trail.first_seen_before(
        session, window.track_id, window.seq, [f for f in new_in_run if f not in created_ids]
    )
    return statistics.statistics(
        before=counted(old_members.items()),
        after=counted(test_members.items()),
        delta={
            "created": counted((f, desired[f]) for f in new_in_run if f not in seen),
            "reactivated": counted((f, desired[f]) for f in new_in_run if f in seen),
            "untouched": counted((f, desired[f]) for f in desired if f in previous),
            "closed": closed((f, o) for f, o in previous.items() if f not in desired),
        },
    )


def _acceptance_valid(row: Any, today: date) -> bool:
    until = getattr(row, "risk_accepted_until", None)
    return until is None or until >= today


def _severities(
    session: Session, window: trail.Window, occurrence_ids: Iterable[int]
) -> dict[int, int]:
    known = window.occurrence_severity
    missing = sorted({occ for occ in occurrence_ids if occ not in known})
    for part in chunks(missing):
        rows = session.execute(
            select(Occurrence.id, Occurrence.severity).where(Occurrence.id.in_(part))
        )
        known.update({row.id: row.severity for row in rows})
    return known


def _save_report(session: Session, request: ImportRequest, prepared: Prepared) -> int:
    """Store the uploaded bytes once per content (two products may upload the same file)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    session.execute(
        insert(Report)
        .values(
            sha256=prepared.sha256,
            size=prepared.size,
            codec=blobs.CODEC,
            data=prepared.compressed,
            file_name=request.file_name[:255],
            created=clock.now(),
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
    )
    report_id = session.scalar(select(Report.id).where(Report.sha256 == prepared.sha256))
    assert report_id is not None
    return int(report_id)


def _save_scan(
    session: Session,
    target: context.Target,
    request: ImportRequest,
    prepared: Prepared,
    test_members: dict[int, int],
    stats: dict[str, Any],
) -> Scan:
    report_id = _save_report(session, request, prepared)
    now = clock.now()
    scan = target.scan
    if scan is None:
        scan = Scan(engagement_id=target.engagement.id, scan_type=request.scan_type, created=now)
        scan.previous_report_ids = []
        session.add(scan)
    elif scan.report_id is not None:
        scan.previous_report_ids = [*scan.previous_report_ids, scan.report_id]
    scan.title = request.test_title or (scan.title if target.scan else "") or request.scan_type
    scan.report_id = report_id
    scan.report_sha256 = prepared.sha256
    scan.report_format = prepared.report.format
    scan.artifact_name = prepared.report.artifact_name
    scan.scanner_version = prepared.report.scanner_version
    scan.finding_count = len(test_members)
    scan.members = members.pack(test_members)
    scan.statistics = stats
    scan.options = {
        "minimum_severity": request.minimum_severity.label,
        "active": request.active,
        "verified": request.verified,
        "close_old_findings": request.close_old_findings,
        "mode": request.mode.value,
    }
    if request.tags or target.scan is None:
        scan.tags = list(request.tags)
    scan.version = request.version or scan.version or ""
    scan.build_id = request.build_id or scan.build_id or ""
    scan.commit_hash = request.commit_hash or scan.commit_hash or ""
    scan.branch_tag = request.branch_tag or scan.branch_tag or ""
    scan.scan_date = request.scan_date or scan.scan_date
    scan.updated = now
    session.flush()
    return scan
