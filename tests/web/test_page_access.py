"""Every page and form against every kind of browser session: exactly the allowed or
refused answer. The pages' twin of tests/api/test_access.py.

Callers: anonymous; reader, writer and maintainer granted on `orchestrator-*`; a global
admin. Anonymous callers are sent to the login page; products outside a caller's roles
are answered as missing (404); actions a role does not allow are refused (403).
Also: the API tokens page, the audit log page, and the web login rate limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from web_support import PASSWORD, SQLITE_ONLY, add_user, csrf_from, web_client

from conftest import TOKEN, start_server
from reports import Report, Vuln, import_scan
from vulntrail import clock
from vulntrail.auth import tokens
from vulntrail.config import Settings
from vulntrail.store.db import Sessions, make_engine
from vulntrail.store.models import ApiToken, AuditEvent, User

CALLERS = ("anonymous", "reader", "writer", "maintainer", "admin")
USERNAMES = {"reader": "rita", "writer": "walt", "maintainer": "mia", "admin": "ada"}
A = Vuln("CVE-2024-4242", "openssl", "3.0.1", severity="CRITICAL")


@dataclass
class World:
    url: str
    database_url: str
    ids: dict[str, int]
    clients: dict[str, httpx.Client]
    own_tokens: dict[str, int]  # caller → id of a token of its own, for the revoke row

    def csrf(self, caller: str) -> str:
        if caller == "anonymous":
            return "no-session"
        return csrf_from(self.clients[caller].get("/tokens").text)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    database_url = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'vulntrail.db'}"
    server, thread, url = start_server(Settings(database_url=database_url, bootstrap_token=TOKEN))
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Token {TOKEN}"}) as api:
            runs = {
                product: import_scan(api, Report(f"{product}:1", [A]).to_json(), product=product)
                for product in ("orchestrator-server", "billing-api")
            }
            finding = {
                p: api.get("/api/v2/findings/", params={"product_name": p}).json()["results"][0][
                    "id"
                ]
                for p in runs
            }
        own, other = runs["orchestrator-server"].json(), runs["billing-api"].json()
        ids = {
            "own_product": own["product_id"],
            "other_product": other["product_id"],
            "own_engagement": own["engagement_id"],
            "other_engagement": other["engagement_id"],
            "own_finding": finding["orchestrator-server"],
            "other_finding": finding["billing-api"],
        }
        for caller, name in USERNAMES.items():
            admin = caller == "admin"
            add_user(
                database_url,
                name,
                admin=admin,
                role=None if admin else caller,
                products="orchestrator-*",
            )
        clients = {caller: web_client(url, name) for caller, name in USERNAMES.items()}
        clients["anonymous"] = httpx.Client(base_url=url, timeout=60)
        ids["foreign_token"], own_tokens = _tokens(database_url)
        yield World(url, database_url, ids, clients, own_tokens)
        for client in clients.values():
            client.close()
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def _tokens(database_url: str) -> tuple[int, dict[str, int]]:
    """The bootstrap admin's token (nobody else's), and one token per caller."""
    engine = make_engine(database_url)
    with Sessions(engine).write() as session:
        foreign = session.scalars(select(ApiToken.id).order_by(ApiToken.id)).first()
        own = {}
        for caller, name in USERNAMES.items():
            user = session.scalars(select(User).where(User.username == name)).one()
            own[caller] = tokens.store_token(session, user, tokens.new_token(), name="own").id
    engine.dispose()
    assert foreign is not None
    return foreign, own


Call = Callable[[World, str], httpx.Response]


def _get(path: str) -> Call:
    return lambda world, caller: world.clients[caller].get(path.format(**world.ids))


def _post(path: str, form: dict[str, str], *, csrf: bool = True) -> Call:
    def call(world: World, caller: str) -> httpx.Response:
        data = {**form, "csrf_token": world.csrf(caller) if csrf else ""}
        return world.clients[caller].post(path.format(**world.ids), data=data)

    return call


def _revoke_own(world: World, caller: str) -> httpx.Response:
    token_id = world.own_tokens.get(caller, world.ids["foreign_token"])
    data = {"csrf_token": world.csrf(caller)}
    return world.clients[caller].post(f"/tokens/{token_id}/revoke", data=data)


def _logout(world: World, caller: str) -> httpx.Response:
    """A session of its own, so the shared clients stay logged in."""
    if caller == "anonymous":
        return world.clients[caller].post("/logout", data={"csrf_token": ""})
    client = web_client(world.url, USERNAMES[caller])
    try:
        token = csrf_from(client.get("/tokens").text)
        return client.post("/logout", data={"csrf_token": token})
    finally:
        client.close()


LOGIN, OUT, OK, SEE, NO, HIDDEN = "login", "logged out", 200, 303, 403, 404
# page → expected answer for anonymous, reader, writer, maintainer, admin
TABLE: list[tuple[str, Call, tuple[Any, ...]]] = [
    ("login page", _get("/login"), (OK, OK, OK, OK, OK)),
    ("products", _get("/products"), (LOGIN, OK, OK, OK, OK)),
    ("own product", _get("/products/{own_product}"), (LOGIN, OK, OK, OK, OK)),
    ("other product", _get("/products/{other_product}"), (LOGIN, HIDDEN, HIDDEN, HIDDEN, OK)),
    ("own run", _get("/engagements/{own_engagement}"), (LOGIN, OK, OK, OK, OK)),
    ("other run", _get("/engagements/{other_engagement}"), (LOGIN, HIDDEN, HIDDEN, HIDDEN, OK)),
    ("own finding", _get("/findings/{own_finding}"), (LOGIN, OK, OK, OK, OK)),
    ("other finding", _get("/findings/{other_finding}"), (LOGIN, HIDDEN, HIDDEN, HIDDEN, OK)),
    ("search", _get("/search?q=CVE-2024-4242"), (LOGIN, OK, OK, OK, OK)),
    ("own product CSV", _get("/products/{own_product}/export.csv"), (LOGIN, OK, OK, OK, OK)),
    (
        "other product SARIF",
        _get("/products/{other_product}/export.sarif"),
        (LOGIN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    ("own run JSON", _get("/engagements/{own_engagement}/export.json"), (LOGIN, OK, OK, OK, OK)),
    (
        "other run CSV",
        _get("/engagements/{other_engagement}/export.csv"),
        (LOGIN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    (
        "triage own finding",
        _post("/findings/{own_finding}/triage", {"verified": "on"}),
        (LOGIN, NO, SEE, SEE, SEE),
    ),
    (
        "triage other finding",
        _post("/findings/{other_finding}/triage", {"verified": "on"}),
        (LOGIN, HIDDEN, HIDDEN, HIDDEN, SEE),
    ),
    (
        "triage without the CSRF token",
        _post("/findings/{own_finding}/triage", {"verified": "on"}, csrf=False),
        (LOGIN, NO, NO, NO, NO),
    ),
    (
        "note on own finding",
        _post("/findings/{own_finding}/notes", {"text": "seen"}),
        (LOGIN, NO, SEE, SEE, SEE),
    ),
    (
        "note on other finding",
        _post("/findings/{other_finding}/notes", {"text": "seen"}),
        (LOGIN, HIDDEN, HIDDEN, HIDDEN, SEE),
    ),
    ("API tokens page", _get("/tokens"), (LOGIN, OK, OK, OK, OK)),
    ("token with all my roles", _post("/tokens", {"name": "all"}), (LOGIN, OK, OK, OK, OK)),
    (
        "token reading one own product",
        _post("/tokens", {"role": "reader", "products": "orchestrator-server"}),
        (LOGIN, OK, OK, OK, OK),
    ),
    (
        "token triaging own products",
        _post("/tokens", {"role": "writer", "products": "orchestrator-*"}),
        (LOGIN, NO, OK, OK, OK),
    ),
    (
        "token importing own products",
        _post("/tokens", {"role": "importer", "products": "orchestrator-*"}),
        (LOGIN, NO, NO, OK, OK),
    ),
    (
        "token reading other products",
        _post("/tokens", {"role": "reader", "products": "billing-*"}),
        (LOGIN, NO, NO, NO, OK),
    ),
    (
        "token without the CSRF token",
        _post("/tokens", {"name": "x"}, csrf=False),
        (LOGIN, NO, NO, NO, NO),
    ),
    ("revoke own token", _revoke_own, (LOGIN, SEE, SEE, SEE, SEE)),
    (
        "revoke another user's token",
        _post("/tokens/{foreign_token}/revoke", {}),
        (LOGIN, HIDDEN, HIDDEN, HIDDEN, HIDDEN),
    ),
    ("audit log", _get("/audit"), (LOGIN, NO, NO, NO, OK)),
    ("SSO when none is configured", _get("/login/sso"), (HIDDEN,) * 5),
    ("log out", _logout, (LOGIN, OUT, OUT, OUT, OUT)),
]


def _answer(response: httpx.Response) -> Any:
    if response.status_code == 303 and response.headers["location"] == "/login?logged_out=1":
        return OUT
    if response.status_code == 303 and response.headers["location"].startswith("/login"):
        return LOGIN
    return response.status_code


@pytest.mark.parametrize("page", [row[0] for row in TABLE])
def test_every_page_answers_each_caller_exactly(world, page):
    _, call, expected = next(row for row in TABLE if row[0] == page)
    got = tuple(_answer(call(world, caller)) for caller in CALLERS)
    assert got == expected, dict(zip(CALLERS, got, strict=True))


def test_scoped_callers_see_only_their_products_in_the_sidebar_and_search(world):
    for caller in ("reader", "writer", "maintainer"):
        client = world.clients[caller]
        assert "billing-api" not in client.get("/products").text
        assert "billing-api" not in client.get("/search", params={"q": "CVE-2024-4242"}).text
    assert "billing-api" in world.clients["admin"].get("/products").text


def test_a_new_token_is_shown_once_works_and_can_be_revoked(world):
    walt = world.clients["writer"]
    made = walt.post(
        "/tokens",
        data={"csrf_token": world.csrf("writer"), "name": "ci", "role": "reader", "products": "*"},
    )
    assert made.status_code == 403 and "rights that you have yourself" in made.text
    made = walt.post(
        "/tokens",
        data={"csrf_token": world.csrf("writer"), "name": "ci", "expires_days": "30"},
    )
    secret = re.search(r'id="new-token-value">(vtr_[^<]+)<', made.text).group(1)
    listing = walt.get("/tokens").text
    assert secret not in listing and secret[:8] in listing
    with httpx.Client(base_url=world.url, headers={"Authorization": f"Token {secret}"}) as api:
        names = [p["name"] for p in api.get("/api/v2/products/").json()["results"]]
        assert names == ["orchestrator-server"]
        row = _token_row(world, secret)
        revoked = walt.post(f"/tokens/{row}/revoke", data={"csrf_token": world.csrf("writer")})
        assert revoked.status_code == 303
        assert "is revoked" in walt.get(revoked.headers["location"]).text
        assert api.get("/api/v2/products/").status_code == 401
    events = _audit(world, actor="walt")
    made_event = next(
        e for e in events if e.action == "create_token" and e.target == f"token {secret[:8]}"
    )
    assert made_event.details["via"] == "web" and made_event.source_ip == "127.0.0.1"
    assert any(e.action == "revoke_token" and e.target == f"token {secret[:8]}" for e in events)
    assert any(e.action == "login" for e in events)


def test_the_audit_log_page_filters_and_pages(world):
    engine = make_engine(world.database_url)
    with Sessions(engine).write() as session:
        for n in range(60):
            session.add(
                AuditEvent(
                    created=clock.now(),
                    actor="bulk-bot",
                    action="import",
                    outcome="ok",
                    target=f"run {n}",
                    source_ip="",
                    details={"n": n, "note": "<script>x</script>"},
                )
            )
    engine.dispose()
    admin = world.clients["admin"]
    first = admin.get("/audit", params={"actor": "bulk-bot", "action": "import"})
    assert first.status_code == 200
    assert first.text.count("<tr>") - 1 == 50  # the header row, then one page
    assert "run 59" in first.text and "run 9<" not in first.text
    assert "<script>x" not in first.text and "&lt;script&gt;" in first.text
    assert 'href="?actor=bulk-bot&amp;action=import&amp;page=2"' in first.text
    second = admin.get("/audit", params={"actor": "bulk-bot", "action": "import", "page": 2})
    assert second.text.count("<tr>") - 1 == 10 and "run 0<" in second.text
    logins = admin.get("/audit", params={"action": "login", "outcome": "ok"}).text
    assert all(name in logins for name in USERNAMES.values()) and "bulk-bot" not in logins


@SQLITE_ONLY
def test_web_logins_are_rate_limited_per_address(live_server):
    add_user(live_server.database_url, "dev")
    with httpx.Client(base_url=live_server.url) as client:

        def attempt(password: str) -> httpx.Response:
            form = client.get("/login")
            data = {"username": "dev", "password": password, "csrf_token": csrf_from(form.text)}
            return client.post("/login", data=data)

        codes = [attempt("wrong").status_code for _ in range(20)]
        limited = attempt(PASSWORD)  # right password, but this address is over its budget
    assert codes == [401] * 20
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    assert "Too many failed logins" in limited.text
    denied = [
        e for e in _audit_in(live_server.database_url) if e.action == "login" and e.actor == "dev"
    ]
    assert len(denied) == 20 and {e.outcome for e in denied} == {"denied"}
    with live_server.client() as api:  # the API's own budget is separate
        assert api.get("/api/v2/products/").status_code == 200


def _token_row(world: World, secret: str) -> int:
    engine = make_engine(world.database_url)
    with Sessions(engine).read() as session:
        found = session.scalars(
            select(ApiToken.id).where(ApiToken.token_hash == tokens.token_hash(secret))
        ).one()
    engine.dispose()
    return found


def _audit(world: World, *, actor: str) -> list[AuditEvent]:
    return [e for e in _audit_in(world.database_url) if e.actor == actor]


def _audit_in(database_url: str) -> list[AuditEvent]:
    engine = make_engine(database_url)
    with Sessions(engine).read() as session:
        events = list(session.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    engine.dispose()
    return events
