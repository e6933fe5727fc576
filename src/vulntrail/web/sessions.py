"""Browser logins: a session cookie and a CSRF token per session.

The cookie holds 256 random bits; the store keeps only their SHA-256, so a copy of
the database cannot be turned into logged-in browsers. The cookie is HttpOnly,
SameSite=Lax and Secure whenever the request came over HTTPS. Every POST form
carries the session's CSRF token; the login form, which comes before any session,
uses a double-submit cookie instead.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from fastapi import Request, Response
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.api.deps import services
from vulntrail.auth.roles import Action, Grant
from vulntrail.auth.tokens import Principal, user_grants
from vulntrail.store.models import Product, User, WebSession

log = logging.getLogger(__name__)

COOKIE = "vulntrail_session"
LOGIN_CSRF_COOKIE = "vulntrail_login_csrf"
LIFETIME = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class WebUser:
    """Who is looking at a page, what they may do, and the CSRF token their forms carry."""

    user_id: int
    username: str
    is_admin: bool
    session_id: int
    csrf_token: str
    grants: tuple[Grant, ...] = ()

    @property
    def principal(self) -> Principal:
        """The same permission model as the API's (roles per product-name pattern)."""
        return Principal(self.user_id, self.username, self.is_admin, self.grants, None, "session")

    def can(self, action: Action, product: Product) -> bool:
        return self.principal.can(action, product.name)


class LoginRequired(Exception):
    """No valid session: the page handler answers with a redirect to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Exception):
    """A form came without the token of the session (or of the login page)."""


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def tokens_match(expected: str | None, given: str | None) -> bool:
    if not expected or not given:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def start(session: Session, user: User) -> str:
    """Open a session for `user` and return the cookie value (never stored as such)."""
    now = clock.now()
    session.execute(delete(WebSession).where(WebSession.expires < now))
    value = new_secret()
    session.add(
        WebSession(
            session_hash=digest(value),
            user_id=user.id,
            csrf_token=new_secret(),
            created=now,
            expires=now + LIFETIME,
            last_seen=now,
        )
    )
    session.flush()
    return value


def end(session: Session, cookie_value: str) -> None:
    session.execute(delete(WebSession).where(WebSession.session_hash == digest(cookie_value)))


def lookup(session: Session, cookie_value: str) -> tuple[WebUser, WebSession] | None:
    row = session.execute(
        select(WebSession, User)
        .join(User, User.id == WebSession.user_id)
        .where(WebSession.session_hash == digest(cookie_value))
    ).first()
    if row is None:
        return None
    web_session, user = row
    if not user.is_active or clock.aware(web_session.expires) <= clock.now():
        return None
    who = WebUser(
        user.id,
        user.username,
        user.is_admin,
        web_session.id,
        web_session.csrf_token,
        user_grants(session, user.id),
    )
    return who, web_session


def is_https(request: Request) -> bool:
    return request.url.scheme == "https"


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/",
        httponly=True,
        samesite="lax",
        secure=is_https(request),
    )


def clear_cookie(response: Response, request: Request, name: str) -> None:
    response.delete_cookie(name, path="/", httponly=True, samesite="lax", secure=is_https(request))


def current_user(request: Request) -> WebUser:
    """The logged-in user of a page request; otherwise LoginRequired (→ login page)."""
    value = request.cookies.get(COOKIE)
    found = None
    sessions = services(request).sessions
    if value:
        with sessions.read() as session:
            found = lookup(session, value)
    if found is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        # After the login, a form post cannot be replayed: land on the products instead.
        raise LoginRequired(target if request.method == "GET" else "/products")
    who, web_session = found
    last = web_session.last_seen
    if last is None or clock.now() - clock.aware(last) >= TOUCH_EVERY:
        _touch(request, who.session_id)
    return who


def _touch(request: Request, session_id: int) -> None:
    """Best effort: a busy database must not turn a page view into an error."""
    try:
        with services(request).sessions.write() as session:
            session.execute(
                update(WebSession).where(WebSession.id == session_id).values(last_seen=clock.now())
            )
    except Exception:
        log.debug("could not record last_seen of web session %s", session_id)


def require_csrf(who: WebUser, given: str | None) -> None:
    if not tokens_match(who.csrf_token, given):
        raise CsrfRejected()


def safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//"):
        return "/products"
    if "\\" in target or any(ord(ch) < 32 for ch in target):
        return "/products"
    return target


class NotAllowed(Exception):
    """The user may read the product but not do this to it (e.g. triage as a reader)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what
