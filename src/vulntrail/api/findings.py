"""GET /api/v2/findings/ (DefectDojo's filters) and triage through PATCH."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict

from vulntrail import clock
from vulntrail.api.deps import principal, services
from vulntrail.api.finding_schema import finding_json
from vulntrail.api.pagination import clamp, paginated
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest, NotFound
from vulntrail.ingest.retry import with_retries
from vulntrail.parsers.interface import Severity
from vulntrail.store import findings_repo, history
from vulntrail.store.models import Finding, FindingEvent, Occurrence

router = APIRouter(prefix="/api/v2", tags=["findings"])


def _severity(text: str | None) -> int | None:
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
    product: int | None = None,
    active: bool | None = None,
    is_mitigated: bool | None = None,
    false_p: bool | None = None,
    out_of_scope: bool | None = None,
    risk_accepted: bool | None = None,
    severity: str | None = None,
    vulnerability_id: str | None = None,
    component_name: str | None = None,
    title: str | None = None,
    ordering: str = "id",
    limit: int | None = Query(None, ge=0),
    offset: int | None = Query(None, ge=0),
) -> dict[str, Any]:
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
        severity=_severity(severity),
        vulnerability_id=vulnerability_id,
        component_name=component_name,
        title=title,
    )
    today = clock.now().date()
    with svc.sessions.read() as session:
        count, rows = findings_repo.page(
            session, filters, today, ordering=ordering, limit=size, offset=start
        )
        newest = findings_repo.newest_runs(session, sorted({f.product_id for f, _ in rows}))
    results = [finding_json(f, o, today=today, newest=newest.get(f.product_id)) for f, o in rows]
    return paginated(request, count, size, start, results)


@router.get("/findings/{finding_id}/")
def get_finding(
    finding_id: int, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    svc = services(request)
    with svc.sessions.read() as session:
        return _one(session, finding_id)


class TriagePatch(BaseModel):
    """Triage fields a DefectDojo client may PATCH; triage attaches to the finding's identity."""

    model_config = ConfigDict(extra="ignore")
    false_p: bool | None = None
    out_of_scope: bool | None = None
    risk_accepted: bool | None = None
    risk_accepted_until: date | None = None
    verified: bool | None = None


@router.patch("/findings/{finding_id}/")
def patch_finding(
    finding_id: int, patch: TriagePatch, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    svc = services(request)
    changes = patch.model_dump(exclude_unset=True)

    def write() -> dict[str, Any]:
        with svc.sessions.write() as session:
            finding = session.get(Finding, finding_id)
            if finding is None:
                raise NotFound(f"finding {finding_id} does not exist")
            if changes.get("risk_accepted") is False:
                changes["risk_accepted_until"] = None
            before = {key: _plain(getattr(finding, key)) for key in changes}
            for key, value in changes.items():
                setattr(finding, key, value)
            after = {key: _plain(value) for key, value in changes.items()}
            if before != after:
                finding.last_status_update = clock.now()
                session.add(
                    FindingEvent(
                        finding_id=finding.id,
                        kind="triage_changed",
                        actor=who.username,
                        details={"old": before, "new": after},
                        created=clock.now(),
                    )
                )
            session.flush()
            return _one(session, finding_id)

    return with_retries(write, what="triage")


@router.get("/findings/{finding_id}/history/")
def finding_history(
    finding_id: int, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """Every event of the finding's trail in order, with its engagement, commit and time."""
    with services(request).sessions.read() as session:
        finding = session.get(Finding, finding_id)
        if finding is None:
            raise NotFound(f"finding {finding_id} does not exist")
        events = history.finding_history(session, finding)
    return {"finding": finding_id, "count": len(events), "results": [e.as_json() for e in events]}


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _one(session: Any, finding_id: int) -> dict[str, Any]:
    finding = session.get(Finding, finding_id)
    if finding is None:
        raise NotFound(f"finding {finding_id} does not exist")
    occurrence = session.get(Occurrence, finding.occurrence_id) if finding.occurrence_id else None
    newest = findings_repo.newest_runs(session, [finding.product_id]).get(finding.product_id)
    return finding_json(finding, occurrence, today=clock.now().date(), newest=newest)
