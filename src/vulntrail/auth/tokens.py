"""API tokens: shown once, stored only as a SHA-256, prefixed for secret scanners.

A token looks like `vtr_<43 url-safe characters>`; the prefix lets secret scanners
and people recognise a leaked vulntrail token. Tokens have enough entropy that a
fast hash is the right tool (no salt or slow hash needed, unlike passwords).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.auth.roles import Action, Grant, Role, allows
from vulntrail.store.models import ApiToken, RoleGrant, User

TOKEN_PREFIX = "vtr_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling, and what they may do: resolved once per request, checked by every route."""

    user_id: int | None
    username: str
    is_admin: bool
    grants: tuple[Grant, ...] = ()
    token_id: int | None = None
    source: str = "token"  # "token", "session" or "ci-jwt"

    def can(self, action: Action, product_name: str) -> bool:
        return self.is_admin or allows(self.grants, action, product_name)

    def can_somewhere(self, action: Action) -> bool:
        return self.is_admin or any(grant.allows_somewhere(action) for grant in self.grants)


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def store_token(
    session: Session,
    user: User,
    token: str,
    *,
    name: str = "",
    expires: datetime | None = None,
    grant: Grant | None = None,
) -> ApiToken:
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=token_hash(token),
        prefix=token[: len(TOKEN_PREFIX) + 4],
        created=clock.now(),
        expires=expires,
        revoked=False,
        role=grant.role.value if grant else None,
        product_pattern=grant.products if grant else None,
    )
    session.add(row)
    session.flush()
    return row


def user_grants(session: Session, user_id: int) -> tuple[Grant, ...]:
    rows = session.execute(
        select(RoleGrant.role, RoleGrant.product_pattern).where(RoleGrant.user_id == user_id)
    )
    return tuple(Grant(Role(role), pattern) for role, pattern in rows)


def authenticate(session: Session, token: str) -> tuple[Principal, ApiToken] | None:
    """The principal a token stands for, or None for unknown, revoked or expired tokens."""
    digest = token_hash(token)
    row = session.execute(
        select(ApiToken, User)
        .join(User, User.id == ApiToken.user_id)
        .where(ApiToken.token_hash == digest)
    ).first()
    if row is None:
        return None
    api_token, user = row
    # Constant-time comparison of what was looked up, for good measure.
    if not hmac.compare_digest(api_token.token_hash, digest):
        return None
    if api_token.revoked or not user.is_active:
        return None
    if api_token.expires is not None and clock.aware(api_token.expires) <= clock.now():
        return None
    if api_token.role:
        # A scoped token acts only within its own grant, never with all its user's rights.
        grants: tuple[Grant, ...] = (Grant(Role(api_token.role), api_token.product_pattern or "*"),)
        is_admin = False
    else:
        grants, is_admin = user_grants(session, user.id), user.is_admin
    who = Principal(user.id, user.username, is_admin, grants, api_token.id, "token")
    return who, api_token


def needs_last_used_update(api_token: ApiToken) -> bool:
    """Writing on every request would serialize readers behind SQLite's write lock."""
    last = api_token.last_used
    return last is None or clock.now() - clock.aware(last) >= LAST_USED_RESOLUTION
