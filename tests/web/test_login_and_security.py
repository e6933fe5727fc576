"""Login sessions, CSRF on every form, logout, and the headers every page carries."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import httpx
from sqlalchemy import select, update
from starlette.requests import Request
from starlette.responses import Response
from web_support import PASSWORD, SQLITE_ONLY, add_user, csrf_from, web_client

from reports import Report, Vuln, import_scan
from vulntrail import clock
from vulntrail.store.db import Sessions, make_engine
from vulntrail.store.models import Finding, User, WebSession
from vulntrail.web import sessions
from vulntrail.web.security import CSP


def _store(database_url: str) -> Sessions:
    return Sessions(make_engine(database_url))


def _one_run(live_server) -> None:
    with live_server.client() as api:
        report = Report("reg.test/app:1", [Vuln("CVE-2024-1000", "openssl", severity="HIGH")])
        assert import_scan(api, report.to_json()).status_code == 201


def test_login_sets_a_hardened_cookie_and_the_store_keeps_only_its_hash(live_server):
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    cookie = client.cookies.get(sessions.COOKIE)
    assert cookie and len(cookie) >= 40
    with httpx.Client(base_url=live_server.url) as fresh:
        form = fresh.get("/login")
        answer = fresh.post(
            "/login",
            data={"username": "dev", "password": PASSWORD, "csrf_token": csrf_from(form.text)},
        )
    header = next(
        h for h in answer.headers.get_list("set-cookie") if h.startswith(sessions.COOKIE + "=")
    )
    flags = {part.strip().lower() for part in header.split(";")}
    assert "httponly" in flags and "samesite=lax" in flags and "path=/" in flags
    assert "secure" not in flags  # plain HTTP on loopback; HTTPS gets Secure (below)
    store = _store(live_server.database_url)
    with store.read() as session:
        hashes = set(session.scalars(select(WebSession.session_hash)))
    store.engine.dispose()
    assert hashlib.sha256(cookie.encode()).hexdigest() in hashes
    assert cookie not in hashes


def test_cookie_is_secure_when_the_request_came_over_https():
    scope = {
        "type": "http",
        "scheme": "https",
        "server": ("vt.test", 443),
        "path": "/",
        "headers": [],
    }
    response = Response()
    sessions.set_cookie(response, Request(scope), sessions.COOKIE, "value", 60)
    assert "secure" in response.headers["set-cookie"].lower()


@SQLITE_ONLY
def test_wrong_password_and_unknown_user_get_the_same_answer(live_server):
    add_user(live_server.database_url, "dev")
    with httpx.Client(base_url=live_server.url) as client:
        answers = []
        for username, password in (("dev", "wrong"), ("nobody", PASSWORD), ("admin", "")):
            form = client.get("/login")
            answers.append(
                client.post(
                    "/login",
                    data={
                        "username": username,
                        "password": password,
                        "csrf_token": csrf_from(form.text),
                    },
                )
            )
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert all("Unknown user name or wrong password." in a.text for a in answers)
    assert all(sessions.COOKIE not in a.cookies for a in answers)


def test_every_form_needs_its_csrf_token(live_server):
    _one_run(live_server)
    add_user(live_server.database_url, "dev")
    with httpx.Client(base_url=live_server.url) as client:
        client.get("/login")  # has the login cookie, but posts no token
        refused = client.post("/login", data={"username": "dev", "password": PASSWORD})
        assert refused.status_code == 403 and "Form expired" in refused.text
    client = web_client(live_server.url, "dev")
    other = web_client(live_server.url, "dev")
    foreign = csrf_from(other.get("/products").text)
    for token in ("", "forged", foreign):
        triage = client.post("/findings/1/triage", data={"csrf_token": token, "false_p": "on"})
        assert triage.status_code == 403
        assert client.post("/logout", data={"csrf_token": token}).status_code == 403
    store = _store(live_server.database_url)
    with store.read() as session:
        assert session.get(Finding, 1).false_p is False
    store.engine.dispose()
    assert client.get("/products").status_code == 200  # still logged in


@SQLITE_ONLY
def test_logout_ends_the_session_on_the_server(live_server):
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    cookie = client.cookies.get(sessions.COOKIE)
    token = csrf_from(client.get("/products").text)
    out = client.post("/logout", data={"csrf_token": token})
    assert out.status_code == 303 and out.headers["location"].startswith("/login")
    with httpx.Client(base_url=live_server.url, cookies={sessions.COOKIE: cookie}) as replay:
        again = replay.get("/products")
    assert again.status_code == 303 and again.headers["location"].startswith("/login")


@SQLITE_ONLY
def test_pages_need_a_login_and_come_back_after_it_but_never_leave_the_site(live_server):
    add_user(live_server.database_url, "dev")
    with httpx.Client(base_url=live_server.url) as client:
        answer = client.get("/engagements/1?status=new")
        assert answer.status_code == 303
        assert answer.headers["location"] == "/login?next=%2Fengagements%2F1%3Fstatus%3Dnew"
        for target, expected in (
            ("/engagements/1?status=new", "/engagements/1?status=new"),
            ("//evil.test/x", "/products"),
            ("https://evil.test/", "/products"),
            ("/\\evil.test", "/products"),
        ):
            form = client.get("/login", params={"next": target})
            back = client.post(
                "/login",
                data={
                    "username": "dev",
                    "password": PASSWORD,
                    "csrf_token": csrf_from(form.text),
                    "next": target,
                },
            )
            assert back.headers["location"] == expected


@SQLITE_ONLY
def test_expired_sessions_and_deactivated_users_are_sent_to_the_login(live_server):
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    store = _store(live_server.database_url)
    with store.write() as session:
        session.execute(update(WebSession).values(expires=clock.now() - timedelta(seconds=1)))
    assert client.get("/products").status_code == 303
    client = web_client(live_server.url, "dev")
    with store.write() as session:
        session.execute(update(User).where(User.username == "dev").values(is_active=False))
    store.engine.dispose()
    assert client.get("/products").status_code == 303


@SQLITE_ONLY
def test_security_headers_on_pages_static_files_and_api(live_server):
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    for path in ("/products", "/login", "/static/app.css", "/static/app.js", "/api/v2/findings/"):
        answer = client.get(path)
        assert answer.headers["content-security-policy"] == CSP, path
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert answer.headers["x-frame-options"] == "DENY"
    assert client.get("/products").headers["cache-control"] == "no-store"


@SQLITE_ONLY
def test_the_api_keeps_token_auth_and_json_errors_and_the_docs_keep_working(live_server):
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    api = client.get("/api/v2/findings/")  # a session cookie is not an API credential
    assert api.status_code == 401 and api.headers["content-type"].startswith("application/json")
    assert client.get("/").json()["api"] == "/api/v2/"  # non-browser callers get JSON
    browser_root = client.get("/", headers={"accept": "text/html"})
    assert browser_root.status_code == 303 and browser_root.headers["location"] == "/products"
    docs = client.get("/docs")
    assert docs.status_code == 200 and "content-security-policy" not in docs.headers
    missing = client.get("/products/999")
    assert missing.status_code == 404 and "There is no product 999" in missing.text


@SQLITE_ONLY
def test_a_new_user_is_told_how_to_import_a_first_report(live_server):
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    page = client.get("/products").text
    assert "No reports imported yet" in page
    assert f"curl -sS -X POST {live_server.url}/api/v2/import-scan/" in page
    assert "vulntrail token create --user dev" in page


@SQLITE_ONLY
def test_pages_show_only_the_products_the_users_roles_allow(live_server):
    with live_server.client() as api:
        for product in ("orchestrator-server", "orchestrator-ui"):
            report = Report("reg.test/app:1", [Vuln("CVE-2024-1000", "openssl", severity="HIGH")])
            assert import_scan(api, report.to_json(), product=product).status_code == 201
        ids = {p["name"]: p["id"] for p in api.get("/api/v2/products/").json()["results"]}
        server_finding, ui_finding = (
            api.get("/api/v2/findings/", params={"product": ids[name]}).json()["results"][0]["id"]
            for name in ("orchestrator-server", "orchestrator-ui")
        )
    add_user(live_server.database_url, "ui-reader", role="reader", products="orchestrator-ui")
    client = web_client(live_server.url, "ui-reader")
    listing = client.get("/products").text
    assert "orchestrator-ui" in listing and "orchestrator-server" not in listing
    for path in (
        f"/products/{ids['orchestrator-server']}",
        f"/findings/{server_finding}",
        "/engagements/1",
        f"/products/{ids['orchestrator-server']}/export.csv",
    ):
        assert client.get(path).status_code == 404, path
    search = client.get("/search", params={"q": "CVE-2024-1000"}).text
    assert "1 finding match" in search and "orchestrator-server" not in search
    page = client.get(f"/findings/{ui_finding}").text
    assert "orchestrator-server" not in page  # not even as "the same CVE elsewhere"
    assert 'action="/findings/' not in page  # a reader gets no triage or note forms
    refused = client.post(
        f"/findings/{ui_finding}/triage", data={"csrf_token": csrf_from(page), "false_p": "on"}
    )
    assert refused.status_code == 403 and "Not allowed" in refused.text
    with live_server.client() as api:
        assert api.get(f"/api/v2/findings/{ui_finding}/").json()["false_p"] is False
