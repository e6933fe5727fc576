"""Triage beyond a flag (reason, owner, notes, bulk) and SLAs, through the API."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import create_engine, text

from dbstate import first_seen_days_ago
from reports import Report, Vuln, findings, import_scan

CRIT = Vuln("CVE-2024-0001", "openssl", "3.0.1", severity="CRITICAL")
HIGH = Vuln("CVE-2024-0002", "curl", "8.0.0", severity="HIGH")
LOW = Vuln("CVE-2024-0003", "zlib", "1.2.13", severity="LOW")


def test_sla_due_dates_overdue_filter_and_summary(api, live_server):
    import_scan(api, Report(os_vulns=[CRIT, HIGH, LOW]).to_json())
    first_seen_days_ago(live_server.database_url, 10)
    rows = {f["severity"]: f for f in findings(api, product_name="orchestrator-server")}
    assert (
        rows["Critical"]["sla_days_remaining"] == -3 and rows["Critical"]["outside_of_sla"] is True
    )
    assert rows["High"]["sla_days_remaining"] == 20 and rows["High"]["outside_of_sla"] is False
    assert (
        rows["Low"]["sla_expiration_date"]
        == (date.today() - timedelta(days=10) + timedelta(days=180)).isoformat()
    )
    assert [f["severity"] for f in findings(api, outside_of_sla="true")] == ["Critical"]
    assert len(findings(api, outside_of_sla="false")) == 2
    summary = api.get("/api/v2/sla/").json()["results"][0]
    assert summary["overdue"] == 1 and summary["by_severity"]["Critical"]["overdue"] == 1
    # A per-product SLA overrides the global one.
    product = api.get("/api/v2/products/").json()["results"][0]
    engine = create_engine(live_server.database_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE products SET sla_days = :d WHERE id = :i"),
            {"d": '{"High": 5}', "i": product["id"]},
        )
    engine.dispose()
    assert sorted(f["severity"] for f in findings(api, outside_of_sla="true")) == [
        "Critical",
        "High",
    ]
    # Triaged findings are not counted as late.
    critical = rows["Critical"]["id"]
    api.patch(
        f"/api/v2/findings/{critical}/",
        json={"risk_accepted": True, "triage_reason": "compensating control", "owner": "mia"},
    )
    assert [f["severity"] for f in findings(api, outside_of_sla="true")] == ["High"]


def test_reason_owner_and_notes_are_kept_and_in_history(api):
    import_scan(api, Report(os_vulns=[CRIT]).to_json())
    finding = findings(api)[0]
    response = api.patch(
        f"/api/v2/findings/{finding['id']}/", json={"owner": "mia", "triage_reason": "fix in 2.1"}
    )
    assert (response.json()["owner"], response.json()["triage_reason"]) == ("mia", "fix in 2.1")
    assert (
        api.post(
            f"/api/v2/findings/{finding['id']}/notes/", json={"entry": "vendor says next week"}
        ).status_code
        == 201
    )
    notes = api.get(f"/api/v2/findings/{finding['id']}/notes/").json()["results"]
    assert [n["entry"] for n in notes] == ["vendor says next week"] and notes[0][
        "author"
    ] == "admin"
    events = [
        e["event"] for e in api.get(f"/api/v2/findings/{finding['id']}/history/").json()["results"]
    ]
    assert events[-2:] == ["triage_changed", "note_added"]
    assert [f["id"] for f in findings(api, owner="mia")] == [finding["id"]]


def test_bulk_triage_applies_to_the_filtered_set_only(api):
    import_scan(api, Report(os_vulns=[CRIT, HIGH, LOW]).to_json())
    response = api.post(
        "/api/v2/findings/bulk_triage/",
        json={
            "filters": {"product_name": "orchestrator-server", "severity": "Low"},
            "changes": {"false_p": True, "triage_reason": "not reachable"},
        },
    )
    assert response.status_code == 200, response.text
    assert response.json() == {"matched": 1, "changed": 1, "refused": 0}
    assert sorted(f["severity"] for f in findings(api, active="true")) == ["Critical", "High"]
    bad = api.post(
        "/api/v2/findings/bulk_triage/",
        json={"filters": {"password": "x"}, "changes": {"false_p": True}},
    )
    assert bad.status_code == 400 and "filters" in bad.json()
