"""Every check of the ID token, end to end through the callback.

The ID tokens here are minted by `StubIdp`, a provider in the test process that signs
with keys it serves from its own JWKS, because a real provider does not issue expired
tokens, tokens for another audience or with a foreign nonce on request. Each refusal:
the login page with the reason, an audit entry with outcome "refused", no session.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sso_support import StubIdp, assert_refused, audit_events, oidc_settings, stub_login, vulntrail

from vulntrail.web import sessions

CASES = {
    "expired": (
        lambda stub, nonce: stub.standard(
            nonce, iat=int(time.time()) - 7200, exp=int(time.time()) - 3600
        ),
        "The ID token has expired.",
    ),
    "another audience": (
        lambda stub, nonce: stub.standard(nonce, aud="another-app"),
        "issued for another application",
    ),
    "several audiences, not us as azp": (
        lambda stub, nonce: stub.standard(nonce, aud=["vulntrail", "another-app"]),
        "several audiences",
    ),
    "another nonce": (
        lambda stub, nonce: stub.standard(nonce, nonce="not-the-browsers-nonce"),
        "the nonce does not match",
    ),
    "no nonce": (
        lambda stub, nonce: stub.standard(nonce, nonce=None),
        "the nonce does not match",
    ),
    "another issuer": (
        lambda stub, nonce: stub.standard(nonce, iss="https://evil.example"),
        "issued by another service",
    ),
    "no subject": (
        lambda stub, nonce: stub.standard(nonce, sub=None),
        "The ID token is not valid",
    ),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[tuple[StubIdp, str, str]]:
    stub = StubIdp().start()
    database_url = f"sqlite:///{tmp_path_factory.mktemp('stub') / 'vulntrail.db'}"
    try:
        with vulntrail(database_url, oidc_settings(stub.issuer)) as url:
            yield stub, url, database_url
    finally:
        stub.stop()


@pytest.fixture
def stub(world) -> Iterator[StubIdp]:
    stub = world[0]
    yield stub
    stub.kid, stub.alg, stub.signing_key, stub.served_kids = "k1", "RS256", None, ["k1"]
    stub.groups_at_userinfo = None


def _refusals(database_url: str) -> int:
    return sum(e.outcome == "refused" for e in audit_events(database_url, "sso_login"))


@pytest.mark.parametrize("case", list(CASES))
def test_an_id_token_that_fails_a_check_is_refused(world, stub, case):
    _, url, database_url = world
    claims, message = CASES[case]
    stub.claims = lambda nonce: claims(stub, nonce)
    before = _refusals(database_url)
    with httpx.Client(base_url=url) as vt:
        assert_refused(stub_login(vt), 401, message)
        assert vt.get("/products").status_code == 303  # still not logged in
    assert _refusals(database_url) == before + 1
    last = [e for e in audit_events(database_url, "sso_login") if e.outcome == "refused"][-1]
    assert message.lower() in last.details["reason"].lower()


def test_a_signature_by_a_key_the_provider_does_not_publish_is_refused(world, stub):
    _, url, _ = world
    stub.claims = stub.standard
    stub.signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with httpx.Client(base_url=url) as vt:
        assert_refused(stub_login(vt), 401, "signature is not valid")


def test_a_token_signed_with_the_client_secret_is_refused(world, stub):
    """HS256 with the client secret is legal OIDC, but we accept provider keys only."""
    _, url, _ = world
    stub.claims, stub.alg = stub.standard, "HS256"
    with httpx.Client(base_url=url) as vt:
        assert_refused(stub_login(vt), 401, "HS256")


def test_a_valid_token_logs_in_and_a_rotated_key_is_fetched(world, stub):
    _, url, _ = world
    stub.claims = stub.standard
    with httpx.Client(base_url=url) as vt:
        assert stub_login(vt).status_code == 303 and vt.cookies.get(sessions.COOKIE)
    fetches = stub.jwks_fetches
    with httpx.Client(base_url=url) as vt:  # the cached set serves the next login
        assert stub_login(vt).status_code == 303
    assert stub.jwks_fetches == fetches
    stub.served_kids, stub.kid = ["k1", "k2"], "k2"  # the provider rotates its key
    time.sleep(1.1)  # past the re-fetch cool-down
    with httpx.Client(base_url=url) as vt:
        assert stub_login(vt).status_code == 303
    assert stub.jwks_fetches == fetches + 1


def test_groups_only_at_userinfo_are_used(world, stub):
    _, url, database_url = world
    stub.claims = lambda nonce: stub.standard(nonce, groups=None, preferred_username="dora")
    stub.groups_at_userinfo = ["appsec"]
    with httpx.Client(base_url=url) as vt:
        assert stub_login(vt).status_code == 303
        assert "Audit log" in vt.get("/products").text
    # Same `sub` as the earlier logins: the same account (renamed at the provider).
    latest = [e for e in audit_events(database_url, "sso_login") if e.outcome == "ok"][-1]
    assert latest.details["admin"] is True
