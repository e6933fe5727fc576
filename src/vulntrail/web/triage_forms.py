"""Triage and notes from the finding page: CSRF-protected forms over store.triage.

The same rules as the API's PATCH: the user needs the triage permission on the
finding's product; each real change is a finding event with the user's name and an
audit entry, in the same transaction.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from vulntrail.api.deps import services
from vulntrail.auth.roles import Action
from vulntrail.ingest.retry import with_retries
from vulntrail.store import audit, triage
from vulntrail.web.finding_pages import visible_finding
from vulntrail.web.sessions import NotAllowed, WebUser, current_user, require_csrf

router = APIRouter(include_in_schema=False)
MAX_NOTE = 20_000
MAX_TEXT = 2_000


def _checked(value: str) -> bool:
    return value in ("on", "true", "1")


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _plain(changes: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in changes.items()}


@router.post("/findings/{finding_id}/triage")
def triage_finding(
    finding_id: int,
    request: Request,
    csrf_token: str = Form(""),
    false_p: str = Form(""),
    out_of_scope: str = Form(""),
    risk_accepted: str = Form(""),
    risk_accepted_until: str = Form(""),
    verified: str = Form(""),
    triage_reason: str = Form(""),
    owner: str = Form(""),
    who: WebUser = Depends(current_user),
) -> Response:
    require_csrf(who, csrf_token)
    accepted = _checked(risk_accepted)
    wanted: dict[str, Any] = {
        "false_p": _checked(false_p),
        "out_of_scope": _checked(out_of_scope),
        "risk_accepted": accepted,
        "risk_accepted_until": _date(risk_accepted_until) if accepted else None,
        "verified": _checked(verified),
        "triage_reason": triage_reason.strip()[:MAX_TEXT],
        "owner": owner.strip()[:150],
    }

    def write() -> None:
        with services(request).sessions.write() as session:
            finding, product = visible_finding(session, who, finding_id)
            if not who.can(Action.TRIAGE, product):
                raise NotAllowed(f"triage findings of {product.name}")
            changes = {k: v for k, v in wanted.items() if getattr(finding, k) != v}
            if triage.apply_triage(session, finding, changes, who.username):
                audit.record(
                    session,
                    who.username,
                    "triage",
                    f"finding {finding_id}",
                    source_ip=_client(request),
                    changes=_plain(changes),
                )

    with_retries(write, what="triage")
    return RedirectResponse(f"/findings/{finding_id}?saved=triage#triage", status_code=303)


@router.post("/findings/{finding_id}/notes")
def add_note(
    finding_id: int,
    request: Request,
    csrf_token: str = Form(""),
    text: str = Form(""),
    who: WebUser = Depends(current_user),
) -> Response:
    require_csrf(who, csrf_token)
    entry = text.strip()[:MAX_NOTE]

    def write() -> None:
        with services(request).sessions.write() as session:
            finding, product = visible_finding(session, who, finding_id)
            if not who.can(Action.TRIAGE, product):
                raise NotAllowed(f"add notes to findings of {product.name}")
            if entry:
                triage.add_note(session, finding, entry, who.username)

    with_retries(write, what="add note")
    return RedirectResponse(f"/findings/{finding_id}?saved=note#notes", status_code=303)


def _client(request: Request) -> str:
    return request.client.host if request.client else ""
