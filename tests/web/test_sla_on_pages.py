"""The finding page shows how long is left to fix an open finding, or how long it is overdue."""

from __future__ import annotations

from web_support import add_user, web_client

from dbstate import first_seen_days_ago
from reports import Report, Vuln, findings, import_scan

CRIT = Vuln("CVE-2024-0001", "openssl", "3.0.1", severity="CRITICAL")
HIGH = Vuln("CVE-2024-0002", "curl", "8.0.0", severity="HIGH")


def test_the_finding_page_shows_days_left_or_overdue(api, live_server):
    import_scan(api, Report(os_vulns=[CRIT, HIGH]).to_json())
    first_seen_days_ago(live_server.database_url, 10)
    add_user(live_server.database_url, "dev")
    client = web_client(live_server.url, "dev")
    rows = {f["severity"]: f["id"] for f in findings(api, product_name="orchestrator-server")}
    critical = client.get(f"/findings/{rows['Critical']}").text
    assert "SLA 7 days: due" in critical and "3 days overdue" in critical
    assert "20 days left" in client.get(f"/findings/{rows['High']}").text
