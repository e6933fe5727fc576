"""Request dependencies: the app's services, and who is calling."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import update

from vulntrail import clock
from vulntrail.auth import tokens
from vulntrail.config import Settings
from vulntrail.errors import NotAuthenticated
from vulntrail.ingest.service import ImportService
from vulntrail.store.db import Sessions
from vulntrail.store.models import ApiToken


@dataclass(slots=True)
class Services:
    settings: Settings
    sessions: Sessions
    imports: ImportService


def services(request: Request) -> Services:
    found: Services = request.app.state.services
    return found


def principal(request: Request) -> tokens.Principal:
    """The caller of an API route: `Authorization: Token …` (DefectDojo) or `Bearer …`."""
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if not header:
        raise NotAuthenticated("Authentication credentials were not provided.")
    if scheme.lower() not in ("token", "bearer") or not credential.strip():
        raise NotAuthenticated(
            "Use 'Authorization: Token <token>' or 'Authorization: Bearer <token>'."
        )
    svc = services(request)
    with svc.sessions.read() as session:
        found = tokens.authenticate(session, credential.strip())
    if found is None:
        raise NotAuthenticated("Invalid token.")
    who, api_token = found
    if tokens.needs_last_used_update(api_token):
        _touch(svc.sessions, api_token.id)
    return who


def _touch(sessions: Sessions, token_id: int) -> None:
    try:
        with sessions.write() as session:
            session.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used=clock.now())
            )
    except Exception:
        return
