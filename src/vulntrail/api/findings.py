"""GET /api/v2/findings/ (DefectDojo's filters) and triage through PATCH."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from vulntrail import clock, sla
from vulntrail.api import access
from vulntrail.api.deps import principal, services, sla_days
from vulntrail.api.finding_schema import finding_json
from vulntrail.api.pagination import MAX_ID, Id, clamp, id_filter, offset_param, paginated
from vulntrail.auth.roles import Action
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest, NotFound
from vulntrail.ingest import members
from vulntrail.ingest.retry import with_retries
from vulntrail.parsers.interface import Severity
from vulntrail.store import audit, findings_repo, history, sla_repo, triage
from vulntrail.store.models import Engagement, Finding, Occurrence, Scan

router = APIRouter(prefix="/api/v2", tags=["findings"])
ORDERING_PATTERN = "^(" + "|".join(sorted(findings_repo.ORDERINGS)).replace("-", "\\-") + ")$"


def severity_value(text: str | None) -> int | None:
    if text is None:
        return None
    key = text.strip().upper()
    if key not in Severity.__members__ and key != "INFORMATIONAL":
        raise BadRequest("must be one of Info, Low, Medium, High, Critical", field="severity")
    return int(Severity.from_label(key))


@router.get("/findings/")
def list_findings(
    request: Request,
    who: Principal = Depends(principal),
    product_name: str | None = None,
    product: int | None = id_filter(),
    active: bool | None = None,
    is_mitigated: bool | None = None,
    false_p: bool | None = None,
    out_of_scope: bool | None = None,
    risk_accepted: bool | None = None,
    severity: str | None = None,
    vulnerability_id: str | None = None,
    component_name: str | None = None,
    title: str | None = Query(None, description="Title contains (case-insensitive)."),
    component_version: str | None = None,
    cwe: int | None = Query(None, ge=0),
    date: date | None = Query(None, description="First seen on this day (UTC)."),
    mitigated: date | None = Query(None, description="Resolved on this day (UTC)."),
    engagement: int | None = Query(
        None, ge=1, le=MAX_ID, description="Present in this run (engagement id)."
    ),
    test: int | None = Query(None, ge=1, le=MAX_ID, description="Reported by this test."),
    duplicate: bool | None = Query(None, description="Always false: findings are deduplicated."),
    outside_of_sla: bool | None = Query(None, description="Active and past its SLA due date."),
    owner: str | None = Query(None, description="Assigned to this person."),
    ordering: str = Query("id", pattern=ORDERING_PATTERN),
    limit: int | None = Query(None, ge=0),
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    """DefectDojo's finding list; status fields describe the product's default branch."""
    svc = services(request)
    size, start = clamp(limit, offset)
    filters = findings_repo.FindingFilters(
        product_id=product,
        product_name=product_name,
        active=active,
        is_mitigated=is_mitigated,
        false_p=false_p,
        out_of_scope=out_of_scope,
        risk_accepted=risk_accepted,
        severity=severity_value(severity),
        vulnerability_id=vulnerability_id,
        component_name=component_name,
        title=title,
        component_version=component_version,
        cwe=cwe,
        first_seen_on=date,
        mitigated_on=mitigated,
    )
    today = clock.now().date()
    with svc.sessions.read() as session:
        filters = _scoped(session, filters, engagement, test)
        filters = dataclasses.replace(
            filters, product_ids=access.readable_product_ids(session, who)
        )
        if duplicate:
            return paginated(request, 0, size, start, [])
        days, overrides = sla_days(svc), sla_repo.product_overrides(session)
        extra = []
        if outside_of_sla is not None:
            late = sla_repo.outside_sla_expr(days, overrides, today)
            extra.append(late if outside_of_sla else ~late)
        if owner is not None:
            extra.append(Finding.owner == owner)
        filters = dataclasses.replace(filters, where=tuple(extra))
        count, rows = findings_repo.page(
            session, filters, today, ordering=ordering, limit=size, offset=start
        )
        newest = findings_repo.newest_runs(session, sorted({f.product_id for f, _ in rows}))
    results = [
        finding_json(
            f,
            o,
            today=today,
            newest=newest.get(f.product_id),
            sla_days=sla.days_for(f.severity, days, overrides.get(f.product_id)),
        )
        for f, o in rows
    ]
    return paginated(request, count, size, start, results)


@router.get("/findings/{finding_id}/")
def get_finding(
    finding_id: Id, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    svc = services(request)
    with svc.sessions.read() as session:
        return _one(session, finding_id, who, sla_days(svc))


class TriagePatch(BaseModel):
    """Triage fields a DefectDojo client may PATCH; triage attaches to the finding's identity."""

    model_config = ConfigDict(extra="ignore")
    false_p: bool | None = None
    out_of_scope: bool | None = None
    risk_accepted: bool | None = None
    risk_accepted_until: date | None = None
    verified: bool | None = None
    triage_reason: str | None = Field(None, max_length=10_000)
    owner: str | None = Field(None, max_length=150)


@router.patch("/findings/{finding_id}/")
def patch_finding(
    finding_id: Id, patch: TriagePatch, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    svc = services(request)
    changes = patch.model_dump(exclude_unset=True)

    def write() -> dict[str, Any]:
        with svc.sessions.write() as session:
            finding = visible_finding(session, finding_id, who)
            product = access.visible_product(session, who, finding.product_id, "")
            access.require(who, Action.TRIAGE, product.name)
            if triage.apply_triage(session, finding, changes, who.username):
                audit.record(
                    session,
                    who.username,
                    "triage",
                    f"finding {finding_id}",
                    changes=plain_values(changes),
                )
            session.flush()
            return _one(session, finding_id, who, sla_days(svc))

    return with_retries(write, what="triage")


@router.get("/findings/{finding_id}/history/")
def finding_history(
    finding_id: Id, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """Every event of the finding's trail in order, with its engagement, commit and time."""
    with services(request).sessions.read() as session:
        finding = visible_finding(session, finding_id, who)
        events = history.finding_history(session, finding)
    return {"finding": finding_id, "count": len(events), "results": [e.as_json() for e in events]}


def _scoped(
    session: Any, filters: findings_repo.FindingFilters, engagement: int | None, test: int | None
) -> findings_repo.FindingFilters:
    if engagement is not None:
        run = session.get(Engagement, engagement)
        if run is None:
            raise BadRequest(f"engagement {engagement} does not exist", field="engagement")
        filters = dataclasses.replace(filters, engagement=run)
    if test is not None:
        scan = session.get(Scan, test)
        if scan is None:
            raise BadRequest(f"test {test} does not exist", field="test")
        filters = dataclasses.replace(filters, ids=sorted(members.unpack(scan.members)))
    return filters


def visible_finding(session: Any, finding_id: Id, who: Principal) -> Finding:
    finding = session.get(Finding, finding_id)
    if finding is None:
        raise NotFound(f"finding {finding_id} does not exist")
    access.visible_product(session, who, finding.product_id, f"finding {finding_id}")
    assert isinstance(finding, Finding)
    return finding


def plain_values(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in changes.items()}


def _one(session: Any, finding_id: Id, who: Principal, days: dict[str, int]) -> dict[str, Any]:
    finding = visible_finding(session, finding_id, who)
    occurrence = session.get(Occurrence, finding.occurrence_id) if finding.occurrence_id else None
    newest = findings_repo.newest_runs(session, [finding.product_id]).get(finding.product_id)
    overrides = sla_repo.product_overrides(session).get(finding.product_id)
    return finding_json(
        finding,
        occurrence,
        today=clock.now().date(),
        newest=newest,
        sla_days=sla.days_for(finding.severity, days, overrides),
    )
