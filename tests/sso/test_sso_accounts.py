"""SSO accounts are keyed by (issuer, sub): a renamed person keeps their account, and a
name never hands one person's account to another."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, select

from vulntrail.auth.roles import Grant, Role
from vulntrail.auth.users import AccountRefused, SsoAccount, create_user, upsert_sso_user
from vulntrail.store import migrate
from vulntrail.store.db import Sessions
from vulntrail.store.models import RoleGrant, User

ISSUER = "https://idp.example.test"


@pytest.fixture
def sessions(database_url: str) -> Sessions:
    engine = create_engine(database_url)
    migrate.upgrade(engine)
    return Sessions(engine)


def _login(sessions: Sessions, name: str, sub: str, *grants: Grant) -> int:
    with sessions.write() as session:
        return upsert_sso_user(session, SsoAccount(name, ISSUER, sub, grants=grants)).id


def test_a_renamed_person_keeps_the_same_account_and_gets_fresh_grants(sessions):
    first = _login(sessions, "alice", "sub-1", Grant(Role.WRITER, "orchestrator-*"))
    again = _login(sessions, "alice.smith", "sub-1", Grant(Role.READER, "*"))
    assert again == first
    with sessions.read() as session:
        grants = session.execute(select(RoleGrant.role, RoleGrant.product_pattern)).all()
        assert [tuple(g) for g in grants] == [("reader", "*")]
        assert session.get(User, first).subject == "sub-1"


def test_a_name_taken_by_another_person_or_a_local_account_is_refused(sessions):
    _login(sessions, "bob", "sub-2")
    with pytest.raises(AccountRefused):
        _login(sessions, "bob", "sub-3")  # another person who chose the same name
    with sessions.write() as session:
        create_user(session, "carol", "a-long-local-password", admin=True)
    with pytest.raises(AccountRefused):
        _login(sessions, "carol", "sub-4")
