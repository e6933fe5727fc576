"""Users, grants and tokens made directly in a test database, for the access tests."""

from __future__ import annotations

from sqlalchemy import create_engine

from vulntrail.auth import tokens, users
from vulntrail.auth.roles import Grant, Role
from vulntrail.store.db import Sessions


def make_token(
    database_url: str,
    username: str,
    *,
    role: str | None = None,
    products: str = "orchestrator-*",
    scoped_token: bool = False,
    admin: bool = False,
    password: str | None = None,
) -> str:
    """A user with `role` on `products` (or a token scoped to it), and a token for it."""
    engine = create_engine(database_url)
    sessions = Sessions(engine)
    secret = tokens.new_token()
    with sessions.write() as session:
        user = users.create_user(session, username, password, admin=admin)
        grant = Grant(Role(role), products) if role else None
        if grant and not scoped_token:
            users.grant_role(session, user, grant)
        tokens.store_token(
            session, user, secret, name="test", grant=grant if scoped_token else None
        )
    engine.dispose()
    return secret
