"""The seed's "Viewing Results", in Debian's Chromium, on a live server with real imports.

Log in → Products in the left sidebar → the product → its most recent engagement
(CI-main-{pipeline_id}) → findings grouped by severity; then a finding's timeline, a
search across products, and log out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect
from web_support import (
    PASSWORD,
    SQLITE_ONLY,
    PageProblems,
    add_user,
    browser,
    import_fleet,
    screenshot,
)

SEVERITIES = ("Critical", "High", "Medium", "Low", "Info")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as launched:
        yield launched


def _log_in(page: Page, url: str, username: str) -> None:
    page.goto(url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile(r"/products$"))


def test_seed_viewing_results_walk_in_chromium(live_server, chromium, tmp_path, request):
    api = live_server.client()
    fleet = import_fleet(api)
    add_user(live_server.database_url, "dev")
    publish = "sqlite" in request.node.name  # one set of README screenshots
    page = chromium.new_page(viewport={"width": 1280, "height": 1000})
    problems = PageProblems(page)

    # 1-2. Open vulntrail and log in.
    _log_in(page, live_server.url, "dev")

    # 3-4. Products in the left sidebar → the service's product.
    sidebar = page.get_by_role("navigation", name="Products")
    expect(sidebar.get_by_role("link", name=re.compile("orchestrator-"))).to_have_count(3)
    sidebar.get_by_role("link", name=re.compile(r"^orchestrator-server")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("orchestrator-server")
    expect(page.locator("svg.trend")).to_be_visible()
    expect(page.locator("svg.trend text", has_text="CI-main-106")).to_have_count(1)
    screenshot(page, tmp_path, "product", publish=publish)

    # 5. The most recent engagement on main, in the engagement list (newest first).
    runs = page.locator("table.engagements tbody th a")
    names = runs.all_inner_texts()
    newest_main = next(name for name in names if name.startswith("CI-main-"))
    assert newest_main == fleet.latest
    assert names.index("CI-main-106") < names.index("CI-main-105") < names.index("CI-main-101")
    runs.filter(has_text=newest_main).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(newest_main)

    # 6. Findings grouped by severity, counts as the API has them.
    engagement_id = fleet.server_runs[newest_main]
    expected = api.get(f"/api/v2/engagements/{engagement_id}/findings/").json()
    for label in SEVERITIES:
        chip = page.locator(f'.count-chip[data-severity="{label}"] .count')
        expect(chip).to_have_text(str(expected["counts"][label]))
    total = sum(expected["counts"].values())
    expect(page.locator(".deltas")).to_contain_text(f"{total} findings in this run")
    expect(page.locator(".deltas")).to_contain_text(f"{expected['new']} new")
    groups = page.locator("section.group h3").all_inner_texts()
    shown = [g.split()[0] for g in groups]
    assert shown == [s for s in SEVERITIES if s in shown]  # Critical first, in order
    assert groups[0].split()[:2] == ["Critical", str(expected["counts"]["Critical"])]
    critical_rows = page.locator("section.group").first.locator("tbody tr")
    expect(critical_rows).to_have_count(expected["counts"]["Critical"])
    expect(page.locator("table.findings tbody tr")).to_have_count(min(50, total))
    screenshot(page, tmp_path, "engagement", publish=publish)

    # Filter to one vulnerability of this run, then open it.
    page.get_by_label("Text", exact=True).fill(fleet.reopened_id)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("table.findings tbody tr").first).to_contain_text(fleet.reopened_id)
    page.get_by_role("link", name=fleet.reopened_id).first.click()

    # The finding: its fields and its timeline on main.
    expect(page.get_by_role("heading", level=1)).to_contain_text(fleet.reopened_id)
    timeline = page.get_by_test_id("timeline")
    expect(timeline.locator("li", has_text="Resolved")).to_contain_text("CI-main-104")
    expect(timeline.locator("li", has_text="Reopened")).to_contain_text("CI-main-105")
    expect(timeline.locator("li", has_text="Introduced").first).to_be_visible()
    expect(page.get_by_test_id("status")).to_have_text("Open")
    expect(page.locator(".refs a").first).to_have_attribute("href", re.compile(r"^https?://"))
    screenshot(page, tmp_path, "finding", publish=publish)

    # Search a CVE across all products: which services share it.
    page.get_by_role("searchbox", name=re.compile("Search all products")).fill(fleet.shared_id)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/search\?q="))
    results = page.locator("table.findings tbody tr")
    products = {row.split("\t")[0] for row in results.all_inner_texts()}
    assert {"orchestrator-server", "orchestrator-ui"} <= products
    rows = api.get("/api/v2/findings/", params={"vulnerability_id": fleet.shared_id}).json()
    expect(results).to_have_count(rows["count"])

    # Log out: back to the login page, and the pages are closed again.
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("status")).to_have_text("You are logged out.")
    page.goto(live_server.url + f"/engagements/{engagement_id}")
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fengagements%2F"))
    assert problems.messages == []  # no CSP violation, script error or dialog anywhere
    page.close()


@SQLITE_ONLY
def test_keyboard_only_reader_and_a_narrow_window(live_server, chromium):
    api = live_server.client()
    fleet = import_fleet(api)
    add_user(live_server.database_url, "dev")
    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems = PageProblems(page)
    _log_in(page, live_server.url, "dev")
    # The first Tab reaches "Skip to content", which moves focus past the navigation.
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("main")).to_be_focused()
    # Sidebar links are reachable and follow with Enter.
    link = page.get_by_role("navigation", name="Products").get_by_role(
        "link", name=re.compile("^orchestrator-ui")
    )
    link.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", level=1)).to_have_text("orchestrator-ui")
    # Severity is said in words, not only in colour.
    expect(page.locator(".count-chip .sev").first).to_have_text("Critical")
    # A narrow window: nothing wider than the window but the tables' own scroll boxes.
    page.set_viewport_size({"width": 480, "height": 900})
    for path in ("/products", f"/engagements/{fleet.server_runs['CI-main-106']}", "/search?q=CVE"):
        page.goto(live_server.url + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    assert problems.messages == []
    page.close()
