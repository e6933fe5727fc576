"""The logged-in user's API tokens: list, create (shown once), revoke.

The same rules as `/api/v2/tokens/`: a token may be scoped to one role on a product
pattern, but only within the rights its creator has (`auth.delegation.covers`); only
the token's SHA-256 is stored, so the page that answers the creation is the only
place it is ever shown. Every form carries the session's CSRF token; creation and
revocation are audited.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from vulntrail import clock
from vulntrail.api.deps import services
from vulntrail.auth import tokens
from vulntrail.auth.delegation import covers
from vulntrail.auth.roles import Grant, Role, RoleError, parse_pattern, parse_role
from vulntrail.ingest.retry import with_retries
from vulntrail.store import audit
from vulntrail.store.models import ApiToken, User
from vulntrail.web import render
from vulntrail.web.sessions import WebUser, current_user, require_csrf

router = APIRouter(include_in_schema=False)
EXPIRY_CHOICES = (("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "never"))
MAX_NAME = 255


class TokenFormError(ValueError):
    """A field of the creation form that cannot be used; the message says which."""


@router.get("/tokens", response_class=HTMLResponse)
def tokens_page(request: Request, who: WebUser = Depends(current_user)) -> HTMLResponse:
    revoked = request.query_params.get("revoked", "")
    return _page(request, who, revoked_id=int(revoked) if revoked.isdigit() else None)


@router.post("/tokens", response_class=HTMLResponse)
def create_token(
    request: Request,
    csrf_token: str = Form(""),
    name: str = Form(""),
    role: str = Form(""),
    products: str = Form(""),
    expires_days: str = Form("90"),
    who: WebUser = Depends(current_user),
) -> HTMLResponse:
    require_csrf(who, csrf_token)
    form = {"name": name, "role": role, "products": products, "expires_days": expires_days}
    try:
        grant = _grant(role, products)
        days = _days(expires_days)
    except TokenFormError as error:
        return _page(request, who, error=str(error), form=form, status=400)
    if grant is not None and not covers(who.principal, grant):
        message = (
            f"You cannot give a token the {grant.role.value} role on {grant.products!r}: "
            "a token can only have rights that you have yourself."
        )
        return _page(request, who, error=message, form=form, status=403)
    secret = tokens.new_token()

    def write() -> str:
        with services(request).sessions.write() as session:
            owner = session.get(User, who.user_id)
            assert owner is not None
            expires = clock.now() + timedelta(days=days) if days else None
            row = tokens.store_token(
                session, owner, secret, name=name.strip()[:MAX_NAME], expires=expires, grant=grant
            )
            audit.record(
                session,
                who.username,
                "create_token",
                f"token {row.prefix}",
                source_ip=_ip(request),
                role=row.role,
                products=row.product_pattern,
                via="web",
            )
            return row.prefix

    prefix = with_retries(write, what="create token")
    return _page(request, who, created={"token": secret, "prefix": prefix, "name": name.strip()})


@router.post("/tokens/{token_id}/revoke")
def revoke_token(
    token_id: int,
    request: Request,
    csrf_token: str = Form(""),
    who: WebUser = Depends(current_user),
) -> Response:
    require_csrf(who, csrf_token)

    def write() -> None:
        with services(request).sessions.write() as session:
            row = session.get(ApiToken, token_id)
            if row is None or row.user_id != who.user_id:
                raise render.PageNotFound(f"token {token_id} of yours")
            if not row.revoked:
                row.revoked = True
                audit.record(
                    session,
                    who.username,
                    "revoke_token",
                    f"token {row.prefix}",
                    source_ip=_ip(request),
                    via="web",
                )

    with_retries(write, what="revoke token")
    return RedirectResponse(f"/tokens?revoked={token_id}", status_code=303)


def _page(
    request: Request,
    who: WebUser,
    *,
    created: dict[str, str] | None = None,
    revoked_id: int | None = None,
    error: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    with services(request).sessions.read() as session:
        rows = session.scalars(
            select(ApiToken).where(ApiToken.user_id == who.user_id).order_by(ApiToken.id.desc())
        ).all()
        revoked = next((row for row in rows if row.id == revoked_id), None)
        context: dict[str, Any] = {
            "rows": [{"token": row, "state": _state(row)} for row in rows],
            "created": created,
            "revoked": revoked,
            "error": error,
            "form": form or _default_form(who),
            "roles": [role.value for role in Role],
            "expiry_choices": EXPIRY_CHOICES,
        }
        return render.page(request, session, who, "tokens.html", context, status_code=status)


def _state(row: ApiToken) -> str:
    if row.revoked:
        return "revoked"
    if row.expires is not None and clock.aware(row.expires) <= clock.now():
        return "expired"
    return "active"


def _default_form(who: WebUser) -> dict[str, str]:
    """Suggest the user's own product pattern for a scoped token."""
    pattern = who.grants[0].products if who.grants and not who.is_admin else "*"
    return {"name": "", "role": "", "products": pattern, "expires_days": "90"}


def _grant(role: str, products: str) -> Grant | None:
    """No role: the token acts with all the user's roles, as they change."""
    if not role.strip():
        return None
    try:
        return Grant(parse_role(role), parse_pattern(products or "*"))
    except RoleError as error:
        raise TokenFormError(str(error)) from None


def _days(raw: str) -> int | None:
    if not raw.strip():
        return None
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 3650:
        raise TokenFormError(f"the lifetime {raw!r} must be 1 to 3650 days, or never")
    return int(raw)


def _ip(request: Request) -> str:
    return request.client.host if request.client else ""
