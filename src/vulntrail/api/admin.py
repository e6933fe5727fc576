"""Users, role grants, API tokens and the audit log (vulntrail's own endpoints)."""

from __future__ import annotations

from datetime import timedelta
from fnmatch import fnmatchcase
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vulntrail import clock
from vulntrail.api import access
from vulntrail.api.deps import principal, services
from vulntrail.api.listing import page_of
from vulntrail.api.pagination import Id, offset_param
from vulntrail.api.serializers import iso
from vulntrail.auth import tokens, users
from vulntrail.auth.delegation import covers
from vulntrail.auth.roles import Grant, RoleError, parse_pattern, parse_role
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest, NotFound, PermissionDenied
from vulntrail.ingest.retry import with_retries
from vulntrail.store import audit
from vulntrail.store.models import ApiToken, AuditEvent, RoleGrant, User

router = APIRouter(prefix="/api/v2", tags=["access"])


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field("", max_length=255)
    role: str | None = None
    products: str | None = None
    expires_days: int | None = Field(None, ge=1, le=3650)


class UserIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    username: str = Field(min_length=1, max_length=150, pattern=r"^[A-Za-z0-9_.@+-]+$")
    password: str | None = Field(None, min_length=12, max_length=1024)
    is_admin: bool = False
    email: str = Field("", max_length=255)


class GrantIn(BaseModel):
    role: str
    products: str = "*"


def token_json(row: ApiToken) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "user": row.user_id,
        "role": row.role,
        "products": row.product_pattern,
        "created": iso(row.created),
        "expires": iso(row.expires),
        "last_used": iso(row.last_used),
        "revoked": row.revoked,
    }


def audit_json(row: AuditEvent) -> dict[str, Any]:
    return {
        "id": row.id,
        "date": iso(row.created),
        "actor": row.actor,
        "action": row.action,
        "outcome": row.outcome,
        "target": row.target,
        "source_ip": row.source_ip or None,
        "details": row.details,
    }


def _grant(role: str | None, products: str | None) -> Grant:
    try:
        return Grant(parse_role(role or "reader"), parse_pattern(products or "*"))
    except RoleError as error:
        raise BadRequest(str(error), field="role") from None


@router.get("/tokens/")
def list_tokens(
    request: Request,
    who: Principal = Depends(principal),
    limit: int | None = Query(None, ge=0),
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    """Your tokens (an admin sees all). Tokens themselves are never shown again."""
    statement = select(ApiToken).order_by(ApiToken.id)
    if not who.is_admin:
        statement = statement.where(ApiToken.user_id == (who.user_id or -1))
    with services(request).sessions.read() as session:
        return page_of(request, session, statement, limit, offset, token_json)


@router.post("/tokens/", status_code=201)
def create_token(
    body: TokenIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """A new token for yourself, shown once in the answer; only its hash is stored."""
    if who.user_id is None:
        raise PermissionDenied("a CI job identity cannot create tokens")
    grant = _grant(body.role, body.products) if body.role or body.products else None
    if grant is not None and not covers(who, grant):
        raise PermissionDenied(f"you cannot grant {grant.role.value} on {grant.products!r}")
    if grant is None and not who.is_admin and len(who.grants) == 1:
        # A scoped caller (one grant) makes tokens with that grant at most.
        grant = who.grants[0]
    secret = tokens.new_token()

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            owner = session.get(User, who.user_id)
            assert owner is not None
            expires = clock.now() + timedelta(days=body.expires_days) if body.expires_days else None
            row = tokens.store_token(
                session, owner, secret, name=body.name, expires=expires, grant=grant
            )
            audit.record(
                session, who.username, "create_token", f"token {row.prefix}", role=row.role
            )
            return {**token_json(row), "token": secret}

    return with_retries(write, what="create token")


@router.delete("/tokens/{token_id}/", status_code=204)
def revoke_token(token_id: Id, request: Request, who: Principal = Depends(principal)) -> None:
    def write() -> None:
        with services(request).sessions.write() as session:
            row = session.get(ApiToken, token_id)
            if row is None or not (who.is_admin or row.user_id == who.user_id):
                raise NotFound(f"token {token_id} does not exist")
            row.revoked = True
            audit.record(session, who.username, "revoke_token", f"token {row.prefix}")

    with_retries(write, what="revoke token")


@router.get("/users/")
def list_users(
    request: Request,
    who: Principal = Depends(principal),
    limit: int | None = Query(None, ge=0),
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    access.require_admin(who)
    with services(request).sessions.read() as session:
        grants: dict[int, list[dict[str, str]]] = {}
        for grant in session.scalars(select(RoleGrant)):
            grants.setdefault(grant.user_id, []).append(
                {"role": grant.role, "products": grant.product_pattern}
            )
        return page_of(
            request,
            session,
            select(User).order_by(User.id),
            limit,
            offset,
            lambda u: {
                "id": u.id,
                "username": u.username,
                "is_admin": u.is_admin,
                "is_active": u.is_active,
                "email": u.email,
                "source": u.source,
                "grants": grants.get(u.id, []),
            },
        )


@router.post("/users/", status_code=201)
def create_user(
    body: UserIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    access.require_admin(who)

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            user = users.create_user(session, body.username, body.password, admin=body.is_admin)
            user.email = body.email
            audit.record(
                session, who.username, "create_user", f"user {body.username}", admin=body.is_admin
            )
            return {"id": user.id, "username": user.username, "is_admin": user.is_admin}

    return with_retries(write, what="create user")


@router.post("/users/{user_id}/grants/", status_code=201)
def grant_role(
    user_id: Id, body: GrantIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """Admins grant anything; an owner grants roles on the products it owns."""
    grant = _grant(body.role, body.products)
    if not who.is_admin and not any(
        g.role.value == "owner" and fnmatchcase(grant.products, g.products) for g in who.grants
    ):
        raise PermissionDenied(f"you cannot grant roles on {grant.products!r}")

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound(f"user {user_id} does not exist")
            users.grant_role(session, user, grant)
            audit.record(
                session,
                who.username,
                "grant_role",
                f"user {user.username}",
                role=grant.role.value,
                products=grant.products,
            )
            return {"user": user_id, "role": grant.role.value, "products": grant.products}

    return with_retries(write, what="grant role")


@router.get("/audit/")
def list_audit(
    request: Request,
    who: Principal = Depends(principal),
    actor: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    limit: int | None = Query(None, ge=0),
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    """Who did what and when, newest first (administrators only)."""
    access.require_admin(who)
    statement = select(AuditEvent).order_by(AuditEvent.id.desc())
    for column, value in (
        (AuditEvent.actor, actor),
        (AuditEvent.action, action),
        (AuditEvent.outcome, outcome),
    ):
        if value:
            statement = statement.where(column == value)
    with services(request).sessions.read() as session:
        return page_of(request, session, statement, limit, offset, audit_json)
