"""Everything from a report is untrusted: HTML and script in it stay inert text."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, expect
from web_support import PASSWORD, SQLITE_ONLY, PageProblems, add_user, browser

from reports import import_scan

SCRIPT = "<script>window.__xss = 'script'</script>"
IMG = "<img src=x onerror=\"window.__xss = 'img'\">"
SVG = "<svg/onload=\"window.__xss = 'svg'\">"
QUOTE_BREAK = "\"'><img src=x onerror=window.__xss='attr'>"
QUOTE_URL = "https://advisory.test/x\"'><svg/onload=window.__xss='href'>"
PRODUCT = f"svc-{IMG}"
ENGAGEMENT = "CI-main-x" + SVG.replace("/", "") + "-77"


def _hostile_report() -> bytes:
    vuln = {
        "VulnerabilityID": "CVE-2024-31337",
        "PkgName": f"pkg{QUOTE_BREAK}",
        "InstalledVersion": f"1.0{SVG}",
        "FixedVersion": f"2.0{SCRIPT}",
        "Severity": "CRITICAL",
        "Title": f"Title {SVG} and {SCRIPT}",
        "Description": (
            f"Upstream advisory text.\n{SCRIPT}\n{IMG}\n"
            "**markdown** and [a link](javascript:window.__xss='md')\n"
            "<a href=\"javascript:window.__xss='a'\">click</a>"
        ),
        "PrimaryURL": "javascript:window.__xss='primary'",
        "References": [
            "https://advisory.test/CVE-2024-31337",
            "javascript:window.__xss='ref'",
            " javascript:window.__xss='spaced'",
            "data:text/html,<script>window.__xss='data'</script>",
            QUOTE_URL,
        ],
        "CweIDs": [f"CWE-79{SCRIPT}"],
        "CVSS": {"nvd": {"V3Vector": f"CVSS:3.1/{IMG}", "V3Score": 9.8}},
    }
    return json.dumps(
        {
            "SchemaVersion": 2,
            "ArtifactName": f"registry.test/app:1{SCRIPT}",
            "ArtifactType": "container_image",
            "Results": [
                {
                    "Target": f"registry.test/app:1{IMG} (debian 12.5)",
                    "Class": "os-pkgs",
                    "Type": "debian",
                    "Vulnerabilities": [vuln],
                }
            ],
        }
    ).encode()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    with browser() as launched:
        yield launched


@SQLITE_ONLY
def test_script_and_event_handler_payloads_from_a_report_are_inert(live_server, chromium):
    api = live_server.client()
    response = import_scan(
        api,
        _hostile_report(),
        product=PRODUCT,
        engagement=ENGAGEMENT,
        branch_tag="main",
        commit_hash=f"c0ffee{SCRIPT}",
    )
    assert response.status_code == 201, response.text
    ids = response.json()
    finding = api.get("/api/v2/findings/", params={"product": ids["product_id"]}).json()
    finding_id = finding["results"][0]["id"]
    add_user(live_server.database_url, "dev")

    page = chromium.new_page(viewport={"width": 1280, "height": 900})
    problems = PageProblems(page)
    page.goto(live_server.url + "/login")
    page.get_by_label("User name").fill("dev")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(re.compile("/products$"))

    paths = [
        "/products",
        f"/products/{ids['product_id']}",
        f"/engagements/{ids['engagement_id']}",
        f"/findings/{finding_id}",
        f"/findings/{finding_id}?run={ids['engagement_id']}",
        "/search?q=" + quote("CVE-2024-31337"),
        "/search?q=" + quote(SCRIPT),  # reflected input
        f"/engagements/{ids['engagement_id']}?q=" + quote(IMG) + "&package=" + quote(SCRIPT),
    ]
    for path in paths:
        page.goto(live_server.url + path)
        assert page.evaluate("window.__xss") is None, path
        # The page's only script is our own file; no element got an event handler.
        scripts = page.locator("script")
        expect(scripts).to_have_count(1)
        expect(scripts).to_have_attribute("src", re.compile(r"^/static/app\.js"))
        assert page.locator("[onerror], [onload], [onclick]").count() == 0, path
        assert page.locator("a[href^='javascript'], a[href^='data']").count() == 0, path
        html = page.content()
        assert SCRIPT not in html and IMG not in html, path

    # The payloads are shown as the text they are.
    page.goto(live_server.url + f"/findings/{finding_id}")
    description = page.get_by_test_id("description")
    expect(description).to_contain_text(SCRIPT)
    expect(description).to_contain_text(IMG)
    expect(page.locator("h1")).to_contain_text("CVE-2024-31337")
    expect(page.locator(".finding-title")).to_contain_text(SVG)
    # Only the http(s) references became links, each to exactly its own URL.
    links = page.locator(".refs a")
    expect(links).to_have_count(2)
    assert links.nth(1).get_attribute("href") == QUOTE_URL
    expect(page.locator(".refs code")).to_have_count(4)  # the rest (and PrimaryURL) is text
    expect(page.get_by_role("navigation", name="Products")).to_contain_text(PRODUCT)

    assert page.evaluate("window.__xss") is None
    assert problems.messages == []  # no dialog, no script error, no CSP violation
    page.close()
