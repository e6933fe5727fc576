"""Local users with argon2 password hashes, single sign-on users, and the first-start bootstrap."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.auth import tokens
from vulntrail.auth.roles import Grant
from vulntrail.errors import Conflict
from vulntrail.store.models import ApiToken, RoleGrant, User

_hasher = PasswordHasher()
ADMIN_NAME = "admin"


def create_user(session: Session, username: str, password: str | None, *, admin: bool) -> User:
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists", field="username")
    user = User(
        username=username,
        password_hash=_hasher.hash(password) if password else None,
        is_admin=admin,
        is_active=True,
        created=clock.now(),
    )
    session.add(user)
    session.flush()
    return user


def check_password(user: User, password: str) -> bool:
    if not user.password_hash:
        return False
    try:
        return _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True, slots=True)
class FirstStart:
    """Credentials made on first start, to be shown once to whoever started the server."""

    username: str
    password: str
    token: str


def ensure_admin(session: Session) -> FirstStart | None:
    """On an empty store, create the admin user with a random password and a token."""
    if session.scalar(select(func.count()).select_from(User)):
        return None
    password = secrets.token_urlsafe(12)
    token = tokens.new_token()
    user = create_user(session, ADMIN_NAME, password, admin=True)
    tokens.store_token(session, user, token, name="first start")
    return FirstStart(ADMIN_NAME, password, token)


def apply_bootstrap_token(session: Session, token: str) -> bool:
    """VULNTRAIL_BOOTSTRAP_TOKEN: when no token exists yet, make it an admin token."""
    if session.scalar(select(func.count()).select_from(ApiToken)):
        return False
    user = session.scalar(select(User).where(User.username == ADMIN_NAME))
    if user is None:
        user = create_user(session, ADMIN_NAME, None, admin=True)
    tokens.store_token(session, user, token, name="bootstrap")
    return True


def grant_role(session: Session, user: User, grant: Grant) -> None:
    """Idempotent: granting a role the user already has changes nothing."""
    exists = session.scalar(
        select(RoleGrant.id).where(
            RoleGrant.user_id == user.id,
            RoleGrant.role == grant.role.value,
            RoleGrant.product_pattern == grant.products,
        )
    )
    if exists is None:
        session.add(
            RoleGrant(
                user_id=user.id,
                role=grant.role.value,
                product_pattern=grant.products,
                created=clock.now(),
            )
        )
        session.flush()


@dataclass(frozen=True, slots=True)
class SsoAccount:
    """What an identity provider says about a person at login."""

    username: str
    source: str  # the issuer
    subject: str = ""  # the provider's `sub`: the stable key of the person
    email: str = ""
    full_name: str = ""
    is_admin: bool = False
    grants: tuple[Grant, ...] = ()


class AccountRefused(Exception):
    """The single sign-on login cannot use this account; the message says why."""


def upsert_sso_user(session: Session, account: SsoAccount) -> User:
    """Create or update the user of an SSO login; its grants become exactly the mapped ones.

    The person is found by (issuer, `sub`), so a name changed at the provider never
    lands in someone else's account. A user of the same name that came from somewhere
    else (a local account, another issuer, another `sub`) is never taken over, and a
    deactivated user stays out.
    """
    user = _sso_user(session, account)
    if user is None:
        user = create_user(session, account.username, None, admin=account.is_admin)
        user.source, user.subject = account.source, account.subject
    elif not user.is_active:
        raise AccountRefused(f"the account {user.username!r} is deactivated")
    user.email = account.email[:255]
    user.full_name = account.full_name[:255]
    user.is_admin = account.is_admin
    replace_grants(session, user, account.grants)
    return user


def _sso_user(session: Session, account: SsoAccount) -> User | None:
    if account.subject:
        found = session.scalar(
            select(User).where(User.source == account.source, User.subject == account.subject)
        )
        if found is not None:
            return found
    user = session.scalar(select(User).where(User.username == account.username))
    if user is None:
        return None
    if user.source != account.source or (user.subject and user.subject != account.subject):
        raise AccountRefused(
            f"the user name {account.username!r} belongs to an account that does not come "
            "from this person at this sign-in service"
        )
    user.subject = account.subject  # an account made before subjects were recorded
    return user


def replace_grants(session: Session, user: User, grants: tuple[Grant, ...]) -> None:
    """The user's role grants become exactly `grants` (duplicates collapse)."""
    session.execute(delete(RoleGrant).where(RoleGrant.user_id == user.id))
    for grant in dict.fromkeys(grants):
        session.add(
            RoleGrant(
                user_id=user.id,
                role=grant.role.value,
                product_pattern=grant.products,
                created=clock.now(),
            )
        )
    session.flush()
