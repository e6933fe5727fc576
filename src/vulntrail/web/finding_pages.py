"""One finding (fields, timeline, the same vulnerability elsewhere, triage) and search."""

from __future__ import annotations

from datetime import date
from typing import Any

import msgspec
from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from vulntrail import clock, sla
from vulntrail.api.deps import services, sla_days
from vulntrail.api.finding_schema import primary_cvss
from vulntrail.auth.roles import Action
from vulntrail.parsers.interface import ParsedFinding
from vulntrail.store import findings_repo, history, sla_repo
from vulntrail.store.models import Engagement, Finding, FindingNote, Occurrence, Product
from vulntrail.web import queries, render
from vulntrail.web.sessions import WebUser, current_user

router = APIRouter(include_in_schema=False)
# Every attribute a page may read, so an occurrence stored without one still renders.
ATTR_DEFAULTS: dict[str, Any] = {
    field.name: field.default
    for field in msgspec.structs.fields(ParsedFinding)
    if field.default is not msgspec.NODEFAULT
}
SEARCH_PER_PAGE = 50
EVENT_TITLES = {
    "introduced": "Introduced",
    "version_changed": "Version changed",
    "severity_changed": "Severity changed",
    "attributes_changed": "Details changed",
    "resolved": "Resolved",
    "reopened": "Reopened",
    "triage_changed": "Triage changed",
    "note_added": "Note added",
}
TRIAGE_LABELS = {
    "false_p": "false positive",
    "out_of_scope": "out of scope",
    "risk_accepted": "risk accepted",
    "risk_accepted_until": "accepted until",
    "verified": "verified",
    "triage_reason": "reason",
    "owner": "owner",
}


def visible_finding(session: Session, who: WebUser, finding_id: int) -> tuple[Finding, Product]:
    """The finding and its product; "not found" when the user may not read that product."""
    what = f"finding {finding_id}"
    finding = session.get(Finding, finding_id)
    if finding is None:
        raise render.PageNotFound(what)
    return finding, render.product_for(session, who, finding.product_id, what)


def _run(session: Session, finding: Finding, raw: str | None) -> tuple[Engagement | None, Any]:
    """The run whose attributes the page shows (`?run=`), and its occurrence."""
    if not raw or not raw.isdigit():
        return None, None
    engagement = session.get(Engagement, int(raw))
    if engagement is None or engagement.product_id != finding.product_id:
        return None, None
    return engagement, queries.occurrence_in_run(session, finding, engagement)


def status_of(finding: Finding, today: date) -> str:
    if not finding.on_default_branch:
        return "not on the default branch"
    if not finding.present:
        return "resolved"
    accepted = finding.risk_accepted and (
        finding.risk_accepted_until is None or finding.risk_accepted_until >= today
    )
    return "triaged" if finding.false_p or finding.out_of_scope or accepted else "open"


def _timeline(session: Session, finding: Finding) -> list[dict[str, Any]]:
    events = history.finding_history(session, finding)
    return [
        {
            "event": e,
            "title": EVENT_TITLES.get(e.event, e.event.replace("_", " ").capitalize()),
            "triage": [
                (TRIAGE_LABELS.get(k, k), e.details.get("old", {}).get(k), v)
                for k, v in e.details.get("new", {}).items()
            ]
            if e.event == "triage_changed"
            else [],
        }
        for e in reversed(events)
    ]


@router.get("/findings/{finding_id}", response_class=HTMLResponse)
def finding_page(
    finding_id: int, request: Request, who: WebUser = Depends(current_user)
) -> HTMLResponse:
    today = clock.now().date()
    with services(request).sessions.read() as session:
        finding, product = visible_finding(session, who, finding_id)
        run, occurrence = _run(session, finding, request.query_params.get("run"))
        if occurrence is None:
            occurrence = (
                session.get(Occurrence, finding.occurrence_id) if finding.occurrence_id else None
            )
        attrs = {**ATTR_DEFAULTS, **(occurrence.attrs if occurrence is not None else {})}
        vector, score = primary_cvss(attrs)
        trail = queries.names_of(
            session,
            [
                finding.first_seen_engagement_id,
                finding.last_seen_engagement_id,
                finding.mitigated_engagement_id,
            ],
        )
        if run is not None:
            artifact = queries.artifact_of(session, run.id)
        else:
            newest = findings_repo.newest_runs(session, [finding.product_id])
            artifact = queries.artifact_of(session, newest.get(finding.product_id, (None,))[0])
        return render.page(
            request,
            session,
            who,
            "finding.html",
            {
                "finding": finding,
                "product": product,
                "occurrence": occurrence,
                "severity": occurrence.severity if occurrence is not None else finding.severity,
                "attrs": attrs,
                "artifact": artifact,
                "run": run,
                "cvss_vector": vector,
                "cvss_score": score,
                "trail": trail,
                "status": status_of(finding, today),
                "sla": _sla(request, session, finding, today),
                "timeline": _timeline(session, finding),
                "siblings": queries.same_vulnerability(
                    session, finding, today, render.readable(session, who)
                ),
                "notes": session.scalars(
                    select(FindingNote)
                    .where(FindingNote.finding_id == finding.id)
                    .order_by(FindingNote.id)
                ).all(),
                "can_triage": who.can(Action.TRIAGE, product),
                "saved": request.query_params.get("saved"),
                "today": today,
            },
            current_product=finding.product_id,
        )


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, who: WebUser = Depends(current_user)) -> HTMLResponse:
    query = request.query_params.get("q", "").strip()[:200]
    today = clock.now().date()
    page_no = render.page_number(request.query_params.get("page"))
    with services(request).sessions.read() as session:
        result = queries.search(
            session,
            query,
            today,
            limit=SEARCH_PER_PAGE,
            offset=(page_no - 1) * SEARCH_PER_PAGE,
            product_ids=render.readable(session, who),
        )
        pager = render.Pager(result.total, page_no, SEARCH_PER_PAGE, {"q": query})
        return render.page(
            request,
            session,
            who,
            "search.html",
            {
                "q": query,
                "result": result,
                "pager": pager,
                "products_sharing": len({h.finding.product_id for h in result.hits}),
            },
        )


def _sla(
    request: Request, session: Session, finding: Finding, today: date
) -> dict[str, Any] | None:
    """Due date and days left of an open finding (None when no SLA applies)."""
    if not finding.present:
        return None
    overrides = sla_repo.product_overrides(session).get(finding.product_id)
    days = sla.days_for(finding.severity, sla_days(services(request)), overrides)
    start = clock.aware(finding.first_seen_at) if finding.first_seen_at else None
    due = sla.due_date(start, days)
    left = sla.days_left(due, today)
    return None if due is None or left is None else {"due": due, "left": left, "days": days}
