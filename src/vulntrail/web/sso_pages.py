"""Single sign-on pages: `/login/sso` sends the browser to the provider, and
`/login/sso/callback` turns its answer into a session (see vulntrail.auth.oidc).

The login in flight rides in its own cookie, limited to `/login/sso` and to ten
minutes, and cleared by the callback whatever the outcome. A refused callback shows
the login page with the reason, writes an audit entry (outcome "refused"), counts as
a failed login of the client address, and opens no session.
"""

from __future__ import annotations

import logging
import threading

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from vulntrail.api.deps import Services, services
from vulntrail.auth import users
from vulntrail.auth.oidc import FLOW_SECONDS, OidcClient, OidcRefused
from vulntrail.auth.users import AccountRefused, SsoAccount
from vulntrail.ingest.retry import with_retries
from vulntrail.store import audit
from vulntrail.web import render, sessions
from vulntrail.web.auth_pages import login_page, too_many_attempts

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)
FLOW_COOKIE = "vulntrail_sso_flow"
FLOW_PATH = "/login/sso"
_clients_lock = threading.Lock()


def oidc_client(request: Request) -> OidcClient:
    """The app's client (it caches discovery, keys and seen states); 404 without SSO."""
    settings = services(request).settings.oidc
    if settings is None:
        raise render.PageNotFound("single sign-on configured here")
    state = request.app.state
    with _clients_lock:
        client: OidcClient | None = getattr(state, "oidc_client", None)
        if client is None or client.settings is not settings:
            client = OidcClient(settings)
            state.oidc_client = client
    return client


@router.get("/login/sso")
def sso_start(request: Request, next: str = "/products") -> Response:
    client = oidc_client(request)
    try:
        start = client.begin(_redirect_uri(request, client), sessions.safe_next(next))
    except OidcRefused as refused:
        log.warning("single sign-on cannot start: %s", refused.message)
        return login_page(
            request,
            next,
            error=f"Sign-in with {client.settings.name} is not available. {refused.message}",
            status=refused.status,
        )
    response = RedirectResponse(start.url, status_code=303)
    response.set_cookie(
        FLOW_COOKIE,
        start.cookie,
        max_age=FLOW_SECONDS,
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request, client),
    )
    return response


@router.get("/login/sso/callback")
def sso_callback(request: Request) -> Response:
    client = oidc_client(request)
    svc = services(request)
    address = _ip(request)
    wait = svc.login_failures.retry_after(address or "unknown")
    if wait:
        return _without_flow(too_many_attempts(wait), request, client)
    account: SsoAccount | None = None
    try:
        found, flow = client.finish(
            request.cookies.get(FLOW_COOKIE),
            dict(request.query_params),
            _redirect_uri(request, client),
        )
        account = found
        value = with_retries(lambda: _open_session(svc, found, address), what="sso login")
    except (OidcRefused, AccountRefused) as error:
        return _refused(request, client, error, account)
    response = RedirectResponse(sessions.safe_next(flow.next_path), status_code=303)
    sessions.set_cookie(
        response, request, sessions.COOKIE, value, int(sessions.LIFETIME.total_seconds())
    )
    sessions.clear_cookie(response, request, sessions.LOGIN_CSRF_COOKIE)
    return _without_flow(response, request, client)


def _open_session(svc: Services, account: SsoAccount, address: str) -> str:
    """One transaction: the user as the provider describes it, the audit entry, the session."""
    with svc.sessions.write() as session:
        user = users.upsert_sso_user(session, account)
        audit.record(
            session,
            user.username,
            "sso_login",
            account.source,
            source_ip=address,
            subject=account.subject,
            admin=account.is_admin,
            grants=[f"{g.role.value} on {g.products}" for g in account.grants],
        )
        return sessions.start(session, user)


def _refused(
    request: Request,
    client: OidcClient,
    error: OidcRefused | AccountRefused,
    account: SsoAccount | None,
) -> Response:
    message = error.message if isinstance(error, OidcRefused) else str(error)
    status = error.status if isinstance(error, OidcRefused) else 403
    address = _ip(request)
    services(request).login_failures.failed(address or "unknown")
    log.info("single sign-on refused from %s: %s", address, message)
    try:
        with services(request).sessions.write() as session:
            audit.record(
                session,
                account.username if account else "sso:unknown",
                "sso_login",
                client.settings.issuer,
                outcome="refused",
                source_ip=address,
                reason=message,
            )
    except Exception:
        log.warning("could not write the audit entry of a refused single sign-on")
    page = login_page(
        request,
        "/products",
        error=f"Sign-in with {client.settings.name} failed. {message}",
        status=status,
    )
    return _without_flow(page, request, client)


def _without_flow(response: Response, request: Request, client: OidcClient) -> Response:
    response.delete_cookie(
        FLOW_COOKIE,
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",
        secure=_secure(request, client),
    )
    return response


def _redirect_uri(request: Request, client: OidcClient) -> str:
    return client.settings.redirect_uri(str(request.base_url))


def _secure(request: Request, client: OidcClient) -> bool:
    public = client.settings.public_url or ""
    return sessions.is_https(request) or public.startswith("https://")


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""
