"""`finding.new`: what an import introduced on a product's default branch.

Called by the import inside its transaction, after the run's content is known. A finding
is introduced by this import when this test has it, with Critical or High severity in
this run, and neither the previous run of the track, nor this test before a re-import,
nor another test of the same run had it (that test's import reported it). Findings
triaged away (false positive, out of scope, accepted) are left out. A run that arrives
late, before the newest run of its track, reports nothing: its findings are either in
the newer run, which reported them, or already resolved.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.ingest import members
from vulntrail.ingest.context import Target
from vulntrail.ingest.trail import Triage, Window
from vulntrail.notify import events, outbox
from vulntrail.parsers.interface import Severity
from vulntrail.store.bulk import chunks
from vulntrail.store.models import Finding, Occurrence, Scan


def on_import(
    session: Session,
    target: Target,
    scan: Scan,
    window: Window,
    test_members: Mapping[int, int],
    previous: Mapping[int, int],
    replaced: Mapping[int, int],
) -> int:
    """Enqueue `finding.new` for this import; returns the number of messages written.

    `test_members`: finding → occurrence of this test; `previous`: of the previous run;
    `replaced`: of this test before a re-import.
    """
    product, engagement = target.product, target.engagement
    if target.track.branch != product.default_branch or window.nxt is not None:
        return 0
    targets = outbox.matching(
        outbox.active_targets(session, [product.id]), events.FINDING_NEW, product.id
    )
    if not targets:
        return 0
    today = clock.now().date()
    severity = window.occurrence_severity
    introduced = {
        fid: occ
        for fid, occ in test_members.items()
        if fid not in previous
        and fid not in replaced
        and severity.get(occ, 0) >= Severity.HIGH
        and not _hidden(window.triage.get(fid), today)
    }
    for fid in _in_other_tests(session, engagement.id, scan.id) if introduced else ():
        introduced.pop(fid, None)
    if not introduced:
        return 0
    counts: dict[int, int] = {}
    for occ in introduced.values():
        counts[severity[occ]] = counts.get(severity[occ], 0) + 1
    worst = sorted(introduced, key=lambda fid: (-severity[introduced[fid]], fid))
    listed = _details(session, {fid: introduced[fid] for fid in worst[: events.MAX_LISTED]})
    payload = events.finding_new(
        events.ProductRef(product.id, product.name),
        events.RunRef(
            engagement.id,
            engagement.name,
            engagement.branch,
            engagement.commit_hash,
            engagement.build_id,
        ),
        listed,
        counts,
    )
    return outbox.enqueue_many(
        session,
        event=events.FINDING_NEW,
        product_id=product.id,
        items=[(payload, "")],
        targets=targets,
    )


def _hidden(triage: Triage | None, today: date) -> bool:
    if triage is None:
        return False
    accepted = triage.risk_accepted and (
        triage.risk_accepted_until is None or triage.risk_accepted_until >= today
    )
    return triage.false_p or triage.out_of_scope or accepted


def _in_other_tests(session: Session, engagement_id: int, scan_id: int) -> set[int]:
    blobs = session.scalars(
        select(Scan.members).where(Scan.engagement_id == engagement_id, Scan.id != scan_id)
    )
    found: set[int] = set()
    for blob in blobs:
        found.update(members.unpack(blob))
    return found


def _details(session: Session, chosen: Mapping[int, int]) -> list[events.FindingInfo]:
    """The findings with the attributes they have in this run (their occurrence)."""
    out: list[events.FindingInfo] = []
    for part in chunks(sorted(set(chosen.values()))):
        rows = session.execute(
            select(
                Finding.id,
                Occurrence.title,
                Occurrence.severity,
                Finding.rule_id,
                Finding.package_name,
                Occurrence.installed_version,
                Occurrence.fixed_version,
            )
            .join(Occurrence, Occurrence.finding_id == Finding.id)
            .where(Occurrence.id.in_(part))
        )
        out.extend(events.FindingInfo(*row) for row in rows)
    return out
