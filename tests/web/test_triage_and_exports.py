"""Triage from the finding page (CSRF-protected form), and exports of the current view."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta

import jsonschema_rs
import pytest
from playwright.sync_api import Browser, expect
from web_support import (
    PASSWORD,
    SARIF_MINIMAL_SCHEMA,
    SQLITE_ONLY,
    PageProblems,
    add_user,
    browser,
    import_fleet,
    web_client,
)

from reports import Report, Vuln, findings, import_scan

A = Vuln("CVE-2024-1000", "openssl", "3.0.1", severity="CRITICAL", fixed="3.0.9")
B = Vuln("CVE-2024-2000", "zlib", "1.2.13", severity="LOW")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as launched:
        yield launched


@SQLITE_ONLY
def test_triage_from_the_finding_page_sticks_and_shows_in_the_timeline(live_server, chromium):
    api = live_server.client()
    for n in (1, 2):
        report = Report(f"reg.test/app:{n}", [A, B]).to_json()
        assert import_scan(api, report, engagement=f"CI-main-{n}").status_code == 201
    target = next(f for f in findings(api) if f["component_name"] == "openssl")
    add_user(live_server.database_url, "dev")
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems = PageProblems(page)
    page.goto(live_server.url + f"/findings/{target['id']}")
    page.get_by_label("User name").fill("dev")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(rf"/findings/{target['id']}$"))  # back where we were

    until = page.get_by_label("until")
    expect(until).to_be_disabled()  # progressive enhancement: only with the box ticked
    page.get_by_label("Risk accepted").check()
    expect(until).to_be_enabled()
    expiry = date.today() + timedelta(days=30)
    until.fill(expiry.isoformat())
    page.get_by_label("Owner").fill("team-platform")
    page.get_by_label("Reason").fill("Not reachable: <b>TLS</b> is terminated upstream.")
    page.get_by_role("button", name="Save triage").click()
    expect(page.get_by_role("status")).to_have_text("Triage saved.")
    expect(page.get_by_test_id("status")).to_have_text("Triaged")
    change = page.get_by_test_id("timeline").locator("li", has_text="Triage changed")
    expect(change).to_contain_text("by dev")
    expect(change).to_contain_text(f"accepted until: — → {expiry.isoformat()}")
    expect(page.locator("#triage dd.pre")).to_have_text(
        "Not reachable: <b>TLS</b> is terminated upstream."
    )
    page.get_by_label("Add a note").fill("Upgrade planned for the next sprint.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("status")).to_have_text("Note added.")
    expect(page.locator(".notes li").first).to_contain_text("Upgrade planned")
    expect(page.get_by_test_id("timeline").locator("li", has_text="Note added")).to_contain_text(
        "by dev"
    )
    assert problems.messages == []
    page.close()

    after = api.get(f"/api/v2/findings/{target['id']}/").json()
    assert after["risk_accepted"] is True and after["active"] is False
    assert after["risk_accepted_until"] == expiry.isoformat()
    notes = api.get(f"/api/v2/findings/{target['id']}/notes/").json()["results"]
    assert [(n["author"], n["entry"]) for n in notes] == [
        ("dev", "Upgrade planned for the next sprint.")
    ]
    history = api.get(f"/api/v2/findings/{target['id']}/history/").json()["results"]
    assert {e["actor"] for e in history if e["event"] in ("triage_changed", "note_added")} == {
        "dev"
    }
    # Triage sticks: the next run still has it, and it is off the open list.
    assert import_scan(api, Report("reg.test/app:3", [A, B]).to_json(), engagement="CI-main-3")
    assert api.get(f"/api/v2/findings/{target['id']}/").json()["risk_accepted"] is True
    client = web_client(live_server.url, "dev")
    product = client.get(f"/products/{target['product']}").text
    assert "CVE-2024-1000" not in product.split('id="findings"')[1]
    triaged = client.get(f"/products/{target['product']}", params={"status": "triaged"}).text
    assert "CVE-2024-1000" in triaged


@SQLITE_ONLY
def test_exports_of_the_current_view_match_the_page_and_the_api(live_server):
    api = live_server.client()
    fleet = import_fleet(api)
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    engagement = fleet.server_runs[fleet.latest]
    expected = api.get(f"/api/v2/engagements/{engagement}/findings/", params={"limit": 1000}).json()
    high = expected["counts"]["High"]

    answer = client.get(f"/engagements/{engagement}/export.csv", params={"severity": "High"})
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == (
        f'attachment; filename="orchestrator-server-{fleet.latest}.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == high and {r["severity"] for r in rows} == {"High"}
    assert {r["status"] for r in rows} <= {"new", "carried"}
    assert sum(r["status"] == "new" for r in rows) == sum(
        1 for r in expected["results"] if r["severity"] == "High" and r["change"] == "new"
    )

    data = client.get(f"/engagements/{engagement}/export.json", params={"status": "new"}).json()
    assert data["count"] == expected["new"] == len(data["results"])
    assert data["view"]["filters"]["status"] == "new"

    resolved = client.get(
        f"/engagements/{fleet.server_runs['CI-main-104']}/export.json",
        params={"status": "resolved"},
    ).json()
    diff = api.get(f"/api/v2/engagements/{fleet.server_runs['CI-main-104']}/diff/").json()
    assert sorted(r["id"] for r in resolved["results"]) == sorted(r["id"] for r in diff["resolved"])

    sarif = client.get(f"/engagements/{engagement}/export.sarif")
    assert sarif.headers["content-type"].startswith("application/sarif+json")
    log = json.loads(sarif.text)
    assert jsonschema_rs.validator_for(SARIF_MINIMAL_SCHEMA).is_valid(log)
    assert len(log["runs"][0]["results"]) == sum(expected["counts"].values())
    rule_ids = {r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == rule_ids

    product = client.get("/products/1/export.csv")
    active = api.get("/api/v2/findings/", params={"product": 1, "active": "true", "limit": 1})
    assert len(list(csv.DictReader(io.StringIO(product.text)))) == active.json()["count"]
    assert client.get(f"/engagements/{engagement}/export.xml").status_code == 404
