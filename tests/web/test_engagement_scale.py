"""A run of 10,000 findings: the engagement page pages in SQL (its speed is measured by bench/)."""

from __future__ import annotations

import csv
import io
import re
import time

from web_support import add_user, web_client

from reports import Report, Vuln, import_scan

LABELS = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
SIZE = 10_000


def _vulns() -> list[Vuln]:
    return [
        Vuln(f"CVE-2024-{10000 + i}", f"pkg{i % 900}", "1.0.0", severity=LABELS[i % 5])
        for i in range(SIZE)
    ]


def _timed(client, path: str, **params: str) -> tuple[str, float]:
    started = time.perf_counter()
    answer = client.get(path, params=params)
    elapsed = time.perf_counter() - started
    assert answer.status_code == 200, answer.text[:500]
    return answer.text, elapsed


def test_engagement_page_of_ten_thousand_findings_is_paged_and_fast(live_server):
    api = live_server.client()
    vulns = _vulns()
    added = [Vuln(f"CVE-2025-{i}", "newpkg", severity="HIGH") for i in range(300)]
    first = import_scan(api, Report("reg.test/app:1", vulns).to_json(), engagement="CI-main-1")
    assert first.status_code == 201, first.text
    second = import_scan(
        api, Report("reg.test/app:2", vulns[500:] + added).to_json(), engagement="CI-main-2"
    )
    assert second.status_code == 201, second.text
    engagement = second.json()["engagement_id"]
    expected = api.get(f"/api/v2/engagements/{engagement}/findings/").json()
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    path = f"/engagements/{engagement}"
    _timed(client, path)  # warm caches once

    html, _ = _timed(client, path)
    listed = html.split('id="resolved-h"')[0]  # the resolved preview follows the list
    assert listed.count('<tr>\n      <td><span class="sev') == 50  # one page, not 10,000 rows
    for label, count in expected["counts"].items():
        assert re.search(
            rf'data-severity="{label}">.*?<strong class="count">{count}</strong>', html
        )
    assert f"{expected['new']} new" in html and f"{expected['resolved']} resolved" in html

    last_page = -(-sum(expected["counts"].values()) // 50)
    html, _ = _timed(client, path, page=str(last_page))
    assert "CVE-2024-" in html

    html, _ = _timed(client, path, q="CVE-2024-19999")
    assert html.count("CVE-2024-19999</a>") == 1

    html, _ = _timed(client, path, status="new", severity="High")
    assert "300</span>" in html and "CVE-2025-0</a>" in html

    html, _ = _timed(client, path, status="resolved")
    assert f'class="group-count">{expected["resolved"] // 5}<' in html

    export = client.get(f"{path}/export.csv")
    assert len(list(csv.DictReader(io.StringIO(export.text)))) == SIZE - 500 + 300
