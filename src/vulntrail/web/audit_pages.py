"""The audit log for administrators: newest first, filtered by actor, action, outcome."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vulntrail.api.deps import services
from vulntrail.store.models import AuditEvent
from vulntrail.web import render
from vulntrail.web.sessions import WebUser, current_user

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
FILTERS = ("actor", "action", "outcome")


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, who: WebUser = Depends(current_user)) -> HTMLResponse:
    filters = {key: request.query_params.get(key, "").strip()[:255] for key in FILTERS}
    with services(request).sessions.read() as session:
        if not who.is_admin:
            return render.page(
                request,
                session,
                who,
                "error.html",
                {"title": "Not allowed", "message": "Only administrators may read the audit log."},
                status_code=403,
            )
        statement = _filtered(filters)
        total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
        pager = render.Pager(
            total, render.page_number(request.query_params.get("page")), PER_PAGE, filters
        )
        events = session.scalars(
            statement.order_by(AuditEvent.id.desc()).offset(pager.offset).limit(PER_PAGE)
        ).all()
        context: dict[str, Any] = {
            "events": events,
            "filters": filters,
            "pager": pager,
            "actions": _distinct(session, AuditEvent.action),
            "outcomes": _distinct(session, AuditEvent.outcome),
        }
        return render.page(request, session, who, "audit.html", context)


def _filtered(filters: dict[str, str]) -> Select[tuple[AuditEvent]]:
    statement = select(AuditEvent)
    for column, value in (
        (AuditEvent.actor, filters["actor"]),
        (AuditEvent.action, filters["action"]),
        (AuditEvent.outcome, filters["outcome"]),
    ):
        if value:
            statement = statement.where(column == value)
    return statement


def _distinct(session: Session, column: Any) -> list[str]:
    return [str(value) for value in session.scalars(select(column).distinct().order_by(column))]
