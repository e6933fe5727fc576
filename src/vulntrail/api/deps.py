"""Request dependencies: the app's services, and who is calling."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import update

from vulntrail import clock, sla
from vulntrail.auth import tokens
from vulntrail.auth.ci_jwt import CiJwtRefused, CiJwtVerifier, load_policies, looks_like_jwt
from vulntrail.auth.ratelimit import FailureLimiter
from vulntrail.config import Settings
from vulntrail.errors import NotAuthenticated, PermissionDenied, TooManyRequests
from vulntrail.ingest.service import ImportService
from vulntrail.store import audit
from vulntrail.store.db import Sessions
from vulntrail.store.models import ApiToken


@dataclass(slots=True)
class Services:
    settings: Settings
    sessions: Sessions
    imports: ImportService
    _ci_jwt: CiJwtVerifier | None = None
    auth_failures: FailureLimiter = field(default_factory=FailureLimiter)
    # Failed web logins (passwords and refused single sign-ons) per address: kept apart
    # from the API's, so a mistyped password does not lock out CI behind the same NAT.
    login_failures: FailureLimiter = field(default_factory=FailureLimiter)

    @property
    def ci_jwt(self) -> CiJwtVerifier:
        """Built on first use (configuration is read at start, never at import)."""
        if self._ci_jwt is None:
            self._ci_jwt = CiJwtVerifier(load_policies(self.settings.ci_trust))
        return self._ci_jwt


def sla_days(svc: Services) -> dict[str, int]:
    """The global SLA (VULNTRAIL_SLA_DAYS over the defaults)."""
    return sla.parse_days(svc.settings.sla_days)


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
    client = request.client.host if request.client else "unknown"
    wait = svc.auth_failures.retry_after(client)
    if wait:
        raise TooManyRequests(
            "too many failed authentication attempts; wait and retry", retry_after=wait
        )
    credential = credential.strip()
    if looks_like_jwt(credential) and svc.ci_jwt:
        return _ci_principal(request, svc, credential)
    with svc.sessions.read() as session:
        found = tokens.authenticate(session, credential)
    if found is None:
        svc.auth_failures.failed(client)
        raise NotAuthenticated("Invalid token.")
    who, api_token = found
    if tokens.needs_last_used_update(api_token):
        _touch(svc.sessions, api_token.id)
    return who


def _ci_principal(request: Request, svc: Services, token: str) -> tokens.Principal:
    """A CI job's own JWT, accepted under a trust policy; refusals are audited."""
    try:
        return svc.ci_jwt.verify(token)
    except CiJwtRefused as refused:
        svc.auth_failures.failed(request.client.host if request.client else "unknown")
        with svc.sessions.write() as session:
            audit.record(
                session,
                f"ci:{refused.subject}" if refused.subject else "ci:unknown",
                "ci_jwt_login",
                outcome="refused",
                source_ip=request.client.host if request.client else "",
                reason=refused.message,
            )
        if refused.status == 403:
            raise PermissionDenied(refused.message) from None
        raise NotAuthenticated(refused.message) from None


def _touch(sessions: Sessions, token_id: int) -> None:
    try:
        with sessions.write() as session:
            session.execute(
                update(ApiToken).where(ApiToken.id == token_id).values(last_used=clock.now())
            )
    except Exception:
        return
