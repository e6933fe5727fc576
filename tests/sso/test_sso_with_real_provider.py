"""Single sign-on against a real OpenID Connect provider (panva's oidc-provider).

The browser test walks the login page's "Sign in with SSO" button, the provider's
form and back, and checks that the groups became roles: what the person sees and may
do. The refusals run the same flow over HTTP and check the page, the audit entry and
that no session was opened.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from sso_support import (
    IDP_PASSWORD,
    OTHER_CLIENT_ID,
    assert_refused,
    audit_events,
    idp_fixture,  # noqa: F401
    oidc_settings,
    provider_callback,
    provider_login,
    vulntrail,
)

from conftest import TOKEN
from reports import Report, Vuln, import_scan
from vulntrail.auth.roles import Grant, Role
from vulntrail.auth.users import grant_role
from vulntrail.store.db import Sessions, make_engine
from vulntrail.store.models import RoleGrant, User, WebSession
from vulntrail.web import sessions
from web.web_support import PageProblems, add_user, browser

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _two_products(url: str) -> None:
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {TOKEN}"}) as api:
        for product in ("orchestrator-server", "billing-api"):
            report = Report(f"{product}:1", [Vuln("CVE-2024-4242", "openssl", severity="HIGH")])
            assert import_scan(api, report.to_json(), product=product).status_code == 201


def _session_count(database_url: str) -> int:
    engine = make_engine(database_url)
    with Sessions(engine).read() as session:
        count = len(session.scalars(WebSession.__table__.select()).all())
    engine.dispose()
    return count


def test_sso_login_in_the_browser_maps_groups_to_what_people_see_and_do(idp, database_url):
    """On SQLite and PostgreSQL: alice (team-orchestrator → writer on orchestrator-*)
    and ada (appsec → administrator) sign in through the provider's own login form."""
    oidc = oidc_settings(idp.issuer, public_url=idp.vulntrail_url)
    with vulntrail(database_url, oidc, port=idp.vulntrail_port) as url, browser() as chromium:
        _two_products(url)
        page = chromium.new_page()
        page.goto(f"{url}/products")
        page.get_by_role("link", name="Sign in with SSO").click()
        page.fill("input[name=login]", "alice")
        page.fill("input[name=password]", IDP_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{url}/products")
        problems = PageProblems(page)  # on vulntrail's pages (the provider's has no favicon)
        assert page.locator(".username").inner_text() == "alice"
        names = page.locator("table.products tbody th").all_inner_texts()
        assert names == ["orchestrator-server"]  # billing-api is outside her role
        page.get_by_role("link", name="orchestrator-server").first.click()
        page.locator("table a[href^='/findings/']").first.click()
        assert page.get_by_role("button", name=re.compile("Save triage", re.I)).count() == 1
        assert page.get_by_role("link", name="Audit log").count() == 0

        # A token made on the web page acts with her mapped role on the API.
        page.get_by_role("link", name="API tokens").click()
        page.fill("#t-name", "laptop")
        page.get_by_role("button", name="Create token").click()
        secret = page.locator("#new-token-value").inner_text().strip()
        assert secret.startswith("vtr_")
        page.goto(f"{url}/tokens")  # shown once: the list has its prefix only
        assert secret not in page.content() and page.locator("#new-token-value").count() == 0
        assert page.locator("table.tokens tbody tr").all_inner_texts()[0].startswith("laptop")
        with httpx.Client(base_url=url, headers={"Authorization": f"Token {secret}"}) as api:
            listed = api.get("/api/v2/products/").json()["results"]
            assert [p["name"] for p in listed] == ["orchestrator-server"]

        admin_page = chromium.new_context().new_page()
        admin_page.goto(f"{url}/login")
        admin_page.get_by_role("link", name="Sign in with SSO").click()
        admin_page.fill("input[name=login]", "ada")
        admin_page.fill("input[name=password]", IDP_PASSWORD)
        admin_page.get_by_role("button", name="Sign in").click()
        admin_page.wait_for_url(f"{url}/products")
        assert len(admin_page.locator("table.products tbody th").all_inner_texts()) == 2
        admin_page.get_by_role("link", name="Audit log").click()
        admin_page.select_option("#a-action", "sso_login")
        admin_page.get_by_role("button", name="Apply").click()
        rows = admin_page.locator("table.audit tbody tr").all_inner_texts()
        assert any("alice" in row and "writer on orchestrator-*" in row for row in rows)
        assert problems.messages == []

    users = {e.actor: e for e in audit_events(database_url, "sso_login")}
    assert set(users) == {"alice", "ada"} and users["ada"].details["admin"] is True
    engine = make_engine(database_url)
    with Sessions(engine).read() as session:
        alice = session.query(User).filter_by(username="alice").one()
        assert (alice.source, alice.password_hash, alice.email) == (
            idp.issuer,
            None,
            "alice@example.test",
        )
    engine.dispose()


@SQLITE_ONLY
def test_grants_are_replaced_by_the_mapping_on_every_login(idp, database_url):
    oidc = oidc_settings(idp.issuer, public_url=idp.vulntrail_url)
    with vulntrail(database_url, oidc, port=idp.vulntrail_port) as url:
        with httpx.Client(base_url=url) as vt:
            assert vt.get(provider_callback(vt, "alice")).status_code == 303
        engine = make_engine(database_url)
        with Sessions(engine).write() as session:  # someone widened her rights by hand
            alice = session.query(User).filter_by(username="alice").one()
            alice.is_admin = True
            grant_role(session, alice, Grant(Role.MAINTAINER, "*"))
        with httpx.Client(base_url=url) as vt:
            back = vt.get(provider_callback(vt, "alice"))
            assert back.status_code == 303 and back.headers["location"] == "/products"
        with Sessions(engine).read() as session:
            alice = session.query(User).filter_by(username="alice").one()
            grants = {(g.role, g.product_pattern) for g in session.query(RoleGrant).all()}
            assert alice.is_admin is False and grants == {("writer", "orchestrator-*")}
        engine.dispose()
        with httpx.Client(base_url=url) as vt:  # bob's groups map to nothing: no roles
            assert vt.get(provider_callback(vt, "bob")).status_code == 303
            assert "No products yet" in vt.get("/products").text


@SQLITE_ONLY
def test_refusals_show_the_reason_audit_it_and_open_no_session(idp, database_url):
    oidc = oidc_settings(idp.issuer, public_url=idp.vulntrail_url)
    with vulntrail(database_url, oidc, port=idp.vulntrail_port) as url:
        add_user(database_url, "admin-shadow")  # make sure local users exist besides admin
        with httpx.Client(base_url=url) as vt:  # a state that is not the browser's
            callback = provider_callback(vt, "alice")
            assert_refused(vt.get(_with(callback, state="forged")), 400, "state does not match")
        with httpx.Client(base_url=url) as vt:  # the provider says no (wrong password)
            callback = provider_callback(vt, "alice", password="wrong")
            assert_refused(vt.get(callback), 400, "access_denied (bad credentials)")
        with httpx.Client(base_url=url) as vt:  # a code issued to another client
            callback = provider_callback(vt, "alice")
            stolen = _code_for_other_client(url)
            assert_refused(
                vt.get(_with(callback, code=stolen)), 400, "did not accept the authorization code"
            )
        with httpx.Client(base_url=url) as vt:  # the provider names the local admin
            assert_refused(vt.get(provider_callback(vt, "mallory")), 403, "does not come from")
        with httpx.Client(base_url=url) as vt:  # no sign-in started in this browser
            assert_refused(vt.get("/login/sso/callback?code=x&state=y"), 400, "Start again")
        refused = [e for e in audit_events(database_url, "sso_login") if e.outcome == "refused"]
        assert len(refused) == 5
        assert refused[3].actor == "admin" and all(e.details["reason"] for e in refused)
        assert all(e.target == idp.issuer and e.source_ip == "127.0.0.1" for e in refused)
        assert _session_count(database_url) == 0


@SQLITE_ONLY
def test_an_answer_is_accepted_once_and_lands_where_the_login_began(idp, database_url):
    oidc = oidc_settings(idp.issuer, public_url=idp.vulntrail_url)
    with vulntrail(database_url, oidc, port=idp.vulntrail_port) as url:
        with httpx.Client(base_url=url) as vt:
            callback = provider_callback(vt, "alice", next_path="/search?q=openssl")
            flow = vt.cookies.get("vulntrail_sso_flow")
            landed = vt.get(callback)
            assert landed.status_code == 303 and landed.headers["location"] == "/search?q=openssl"
        with httpx.Client(base_url=url, cookies={"vulntrail_sso_flow": flow}) as replay:
            assert_refused(replay.get(callback), 400, "used already")


@SQLITE_ONLY
def test_password_login_can_be_turned_off(idp, database_url):
    oidc = oidc_settings(idp.issuer, public_url=idp.vulntrail_url, local_login=False)
    with (
        vulntrail(database_url, oidc, port=idp.vulntrail_port) as url,
        httpx.Client(base_url=url) as vt,
    ):
        add_user(database_url, "dev")
        page = vt.get("/login")
        assert "Sign in with SSO" in page.text and 'name="password"' not in page.text
        token = vt.cookies.get(sessions.LOGIN_CSRF_COOKIE)
        refused = vt.post("/login", data={"username": "dev", "password": "x", "csrf_token": token})
        assert refused.status_code == 403 and "Password login is turned off" in refused.text


def _with(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def _code_for_other_client(url: str) -> str:
    """Alice logs in at the provider for OTHER_CLIENT_ID; the code is bound to that client."""
    with httpx.Client(base_url=url) as elsewhere:
        start = urlsplit(elsewhere.get("/login/sso").headers["location"])
    query = {k: v[0] for k, v in parse_qs(start.query).items()}
    query["client_id"] = OTHER_CLIENT_ID
    callback = provider_login(urlunsplit(start._replace(query=urlencode(query))), "alice")
    return parse_qs(urlsplit(callback).query)["code"][0]
