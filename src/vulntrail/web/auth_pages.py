"""Log in and log out: a local user (argon2 password), or single sign-on (see sso_pages).

Failed logins count against the client address (`Services.login_failures`); past the
budget every attempt from that address gets a 429 page with Retry-After, right
password or not. VULNTRAIL_OIDC_LOCAL_LOGIN=false leaves only the SSO button.
"""

from __future__ import annotations

from functools import cache
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from vulntrail.api.deps import services
from vulntrail.auth.users import check_password
from vulntrail.ingest.retry import with_retries
from vulntrail.store import audit
from vulntrail.store.models import User
from vulntrail.web import render, sessions

router = APIRouter(include_in_schema=False)
LOGIN_CSRF_MAX_AGE = 3600


@cache
def _decoy() -> User:
    """A user with a real hash, checked when the name is unknown: same time either way."""
    from argon2 import PasswordHasher

    return User(username="", password_hash=PasswordHasher().hash("decoy-password"))


def login_page(
    request: Request, next_path: str, *, error: str = "", username: str = "", status: int = 200
) -> Response:
    """The login page: the SSO button when configured, the password form unless turned off."""
    token = request.cookies.get(sessions.LOGIN_CSRF_COOKIE) or sessions.new_secret()
    settings = services(request).settings
    target = sessions.safe_next(next_path)
    providers = []
    if settings.oidc is not None:
        url = "/login/sso" + ("" if target == "/products" else f"?next={quote(target, safe='')}")
        providers.append({"name": settings.oidc.name, "url": url})
    response = render.bare(
        "login.html",
        {
            "csrf_token": token,
            "next": target,
            "error": error,
            "username": username,
            "sso_providers": providers,
            "local_login": settings.local_login,
            "notice": "You are logged out." if request.query_params.get("logged_out") else "",
        },
        status_code=status,
    )
    sessions.set_cookie(response, request, sessions.LOGIN_CSRF_COOKIE, token, LOGIN_CSRF_MAX_AGE)
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/products") -> Response:
    return login_page(request, next)


def too_many_attempts(retry_after: int) -> Response:
    """The 429 page of a client address that failed to log in too often."""
    response = render.bare(
        "error.html",
        {
            "title": "Too many failed logins",
            "message": "There were too many failed logins from your address. "
            f"Wait {retry_after} seconds, then try again.",
        },
        status_code=429,
    )
    response.headers["Retry-After"] = str(retry_after)
    return response


@router.post("/login")
def login(
    request: Request,
    username: str = Form(""),
    password: str = Form(""),
    csrf_token: str = Form(""),
    next: str = Form("/products"),
) -> Response:
    if not sessions.tokens_match(request.cookies.get(sessions.LOGIN_CSRF_COOKIE), csrf_token):
        raise sessions.CsrfRejected()
    svc = services(request)
    if not svc.settings.local_login:
        return login_page(
            request, next, error="Password login is turned off: sign in with SSO.", status=403
        )
    wait = svc.login_failures.retry_after(_ip(request) or "unknown")
    if wait:
        return too_many_attempts(wait)
    with svc.sessions.read() as session:
        user = session.scalar(select(User).where(User.username == username.strip()))
    valid = check_password(user or _decoy(), password)
    if user is None or not valid or not user.is_active:
        svc.login_failures.failed(_ip(request) or "unknown")
        _audit(request, username.strip(), "denied")
        return login_page(
            request,
            next,
            error="Unknown user name or wrong password.",
            username=username,
            status=401,
        )
    account = user

    def open_session() -> str:
        with svc.sessions.write() as session:
            audit.record(session, account.username, "login", "web", source_ip=_ip(request))
            return sessions.start(session, account)

    value = with_retries(open_session, what="login")
    response = RedirectResponse(sessions.safe_next(next), status_code=303)
    sessions.set_cookie(
        response, request, sessions.COOKIE, value, int(sessions.LIFETIME.total_seconds())
    )
    sessions.clear_cookie(response, request, sessions.LOGIN_CSRF_COOKIE)
    return response


@router.post("/logout")
def logout(request: Request, csrf_token: str = Form("")) -> Response:
    who = sessions.current_user(request)
    sessions.require_csrf(who, csrf_token)
    value = request.cookies.get(sessions.COOKIE, "")
    svc = services(request)

    def close() -> None:
        with svc.sessions.write() as session:
            sessions.end(session, value)
            audit.record(session, who.username, "logout", "web", source_ip=_ip(request))

    with_retries(close, what="logout")
    response = RedirectResponse("/login?logged_out=1", status_code=303)
    sessions.clear_cookie(response, request, sessions.COOKIE)
    return response


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""


def _audit(request: Request, username: str, outcome: str) -> None:
    """A refused login is written in its own small transaction (best effort)."""
    try:
        with services(request).sessions.write() as session:
            audit.record(
                session,
                username[:150] or "?",
                "login",
                "web",
                outcome=outcome,
                source_ip=_ip(request),
            )
    except Exception:
        return
