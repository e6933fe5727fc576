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
from vulntrail.store.models import ApiToken, User

TOKEN_PREFIX = "vtr_"
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: resolved from a token, checked by every route."""

    user_id: int
    username: str
    is_admin: bool
    token_id: int | None = None


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def store_token(
    session: Session, user: User, token: str, *, name: str = "", expires: datetime | None = None
) -> ApiToken:
    row = ApiToken(
        user_id=user.id,
        name=name,
        token_hash=token_hash(token),
        prefix=token[: len(TOKEN_PREFIX) + 4],
        created=clock.now(),
        expires=expires,
        revoked=False,
    )
    session.add(row)
    session.flush()
    return row


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
    return Principal(user.id, user.username, user.is_admin, api_token.id), api_token


def needs_last_used_update(api_token: ApiToken) -> bool:
    """Writing on every request would serialize readers behind SQLite's write lock."""
    last = api_token.last_used
    return last is None or clock.now() - clock.aware(last) >= LAST_USED_RESOLUTION
