"""Invariants 2, 3, 5, 8, 9 and 10: the trail of each finding over pipeline runs."""

from __future__ import annotations

from datetime import date, timedelta

from dbstate import row_counts, snapshot
from reports import Report, Vuln, findings, import_scan

A = Vuln("CVE-2024-1000", "openssl", "3.0.1", severity="CRITICAL")
B = Vuln("CVE-2024-2000", "zlib", "1.2.13", severity="LOW")
C = Vuln("CVE-2024-3000", "curl", "8.0.0", severity="MEDIUM")


def _run(api, n: int, *vulns: Vuln, branch: str = "main", **fields: str):
    response = import_scan(
        api,
        Report(f"reg.test/app:{n}", list(vulns)).to_json(),
        engagement=f"CI-{branch}-{n}",
        **fields,
    )
    assert response.status_code == 201, response.text
    return response.json()


def _by_id(api) -> dict[str, dict]:
    return {
        f["vulnerability_ids"][0]["vulnerability_id"]: f
        for f in findings(api, product_name="orchestrator-server")
    }


def test_lifecycle_open_resolved_by_the_run_that_lacks_it_then_reopened(api):
    first = _run(api, 1, A, B)
    second = _run(api, 2, A)
    assert second["statistics"]["delta"]["closed"]["low"]["total"] == 1
    state = _by_id(api)
    assert state["CVE-2024-2000"]["is_mitigated"] is True
    assert state["CVE-2024-2000"]["active"] is False
    assert state["CVE-2024-2000"]["mitigated_engagement"] == second["engagement_id"]
    assert state["CVE-2024-2000"]["last_seen_engagement"] == first["engagement_id"]
    assert state["CVE-2024-1000"]["last_seen_engagement"] == second["engagement_id"]
    third = _run(api, 3, A, B)
    assert third["statistics"]["delta"]["reactivated"]["low"]["total"] == 1
    state = _by_id(api)
    assert state["CVE-2024-2000"]["active"] is True
    assert state["CVE-2024-2000"]["reopen_count"] == 1
    assert state["CVE-2024-2000"]["mitigated_engagement"] is None
    assert state["CVE-2024-2000"]["first_seen_engagement"] == first["engagement_id"]
    active = findings(api, product_name="orchestrator-server", active="true")
    assert {f["vulnerability_ids"][0]["vulnerability_id"] for f in active} == {
        "CVE-2024-1000",
        "CVE-2024-2000",
    }


def test_other_branches_never_resolve_default_branch_findings(api):
    _run(api, 1, A, B)
    feature = _run(api, 2, C, branch="feature-x", branch_tag="feature-x")
    state = _by_id(api)
    assert state["CVE-2024-1000"]["active"] and state["CVE-2024-2000"]["active"]
    # The branch's own finding is not open on the product: main never had it.
    assert state["CVE-2024-3000"]["active"] is False
    assert state["CVE-2024-3000"]["on_default_branch"] is False
    view = api.get(f"/api/v2/engagements/{feature['engagement_id']}/findings/").json()
    present = [r for r in view["results"] if r["change"] != "resolved"]
    assert [r["vulnerability_ids"][0]["vulnerability_id"] for r in present] == ["CVE-2024-3000"]
    assert present[0]["on_default_branch"] is False  # what the branch adds over main


def test_engagement_shows_its_own_truth_grouped_with_new_and_resolved(api):
    _run(api, 1, A, B)
    older_b = Vuln("CVE-2024-2000", "zlib", "1.2.13", severity="LOW")
    second = _run(api, 2, Vuln("CVE-2024-1000", "openssl", "3.0.2", severity="HIGH"), C)
    first_view = api.get(f"/api/v2/engagements/{second['engagement_id'] - 1}/findings/").json()
    assert first_view["counts"] == {"Critical": 1, "High": 0, "Medium": 0, "Low": 1, "Info": 0}
    run1 = {r["vulnerability_ids"][0]["vulnerability_id"]: r for r in first_view["results"]}
    assert run1["CVE-2024-1000"]["component_version"] == "3.0.1"  # as it was in run 1
    assert run1["CVE-2024-1000"]["severity"] == "Critical"
    assert {r["change"] for r in first_view["results"]} == {"new"}
    view = api.get(f"/api/v2/engagements/{second['engagement_id']}/findings/").json()
    run2 = {r["vulnerability_ids"][0]["vulnerability_id"]: r for r in view["results"]}
    assert view["counts"] == {"Critical": 0, "High": 1, "Medium": 1, "Low": 0, "Info": 0}
    assert run2["CVE-2024-1000"]["change"] == "carried"
    assert run2["CVE-2024-1000"]["component_version"] == "3.0.2"
    assert run2["CVE-2024-3000"]["change"] == "new"
    assert older_b.id not in run2 and view["resolved"] == 1
    resolved = api.get(
        f"/api/v2/engagements/{second['engagement_id']}/findings/", params={"status": "resolved"}
    ).json()
    assert [
        (r["vulnerability_ids"][0]["vulnerability_id"], r["change"]) for r in resolved["results"]
    ] == [(older_b.id, "resolved")]
    assert resolved["count"] == 1


def test_same_report_again_for_the_same_engagement_changes_nothing(api, live_server):
    report = Report("reg.test/app:7", [A, B]).to_json()
    first = import_scan(api, report, engagement="CI-main-7")
    before = snapshot(live_server.database_url)
    again = import_scan(api, report, engagement="CI-main-7")
    assert again.status_code == 201
    assert again.json()["test"] == first.json()["test"]
    assert again.json()["statistics"]["after"] == first.json()["statistics"]["after"]
    assert again.json()["statistics"]["delta"]["created"]["total"]["total"] == 0
    assert snapshot(live_server.database_url) == before
    retry = import_scan(api, report, engagement="CI-main-7", endpoint="reimport-scan")
    assert retry.json()["test"] == first.json()["test"]
    assert snapshot(live_server.database_url) == before


def test_unchanged_next_run_adds_rows_for_the_run_only(api, live_server):
    vulns = [Vuln(f"CVE-2024-{n}", f"pkg{n}", "1.0") for n in range(300)]
    _run(api, 1, *vulns)
    before = row_counts(live_server.database_url)
    _run(api, 2, *vulns)  # new tag, same findings: a new report file and engagement
    after = row_counts(live_server.database_url)
    added = {t: after[t] - before[t] for t in after if after[t] != before[t]}
    assert added == {"engagements": 1, "tests": 1, "reports": 1}


def test_triage_sticks_across_runs_and_expired_acceptance_reopens(api):
    _run(api, 1, A, B, C)
    state = _by_id(api)
    assert (
        api.patch(
            f"/api/v2/findings/{state['CVE-2024-1000']['id']}/", json={"false_p": True}
        ).status_code
        == 200
    )
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    tomorrow = (date.today() + timedelta(days=30)).isoformat()
    api.patch(
        f"/api/v2/findings/{state['CVE-2024-2000']['id']}/",
        json={"risk_accepted": True, "risk_accepted_until": tomorrow},
    )
    api.patch(
        f"/api/v2/findings/{state['CVE-2024-3000']['id']}/",
        json={"risk_accepted": True, "risk_accepted_until": yesterday},
    )
    _run(api, 2, A, B, C)
    state = _by_id(api)
    assert (state["CVE-2024-1000"]["false_p"], state["CVE-2024-1000"]["active"]) == (True, False)
    assert (state["CVE-2024-2000"]["risk_accepted"], state["CVE-2024-2000"]["active"]) == (
        True,
        False,
    )
    # The acceptance ran out: the finding is open again.
    assert (state["CVE-2024-3000"]["risk_accepted"], state["CVE-2024-3000"]["active"]) == (
        False,
        True,
    )
    active = findings(api, product_name="orchestrator-server", active="true")
    assert [f["vulnerability_ids"][0]["vulnerability_id"] for f in active] == ["CVE-2024-3000"]


def test_history_lists_the_trail_in_order_with_engagements_and_commits(api):
    _run(api, 1, A, commit_hash="c1")
    _run(api, 2, Vuln("CVE-2024-1000", "openssl", "3.0.2", severity="HIGH"), commit_hash="c2")
    _run(api, 3, B, commit_hash="c3")
    _run(api, 4, Vuln("CVE-2024-1000", "openssl", "3.0.2", severity="HIGH"), commit_hash="c4")
    finding = _by_id(api)["CVE-2024-1000"]
    api.patch(f"/api/v2/findings/{finding['id']}/", json={"false_p": True})
    response = api.get(f"/api/v2/findings/{finding['id']}/history/")
    assert response.status_code == 200
    events = [
        (e["event"], e["engagement_name"], e["commit_hash"]) for e in response.json()["results"]
    ]
    assert events[:5] == [
        ("introduced", "CI-main-1", "c1"),
        ("version_changed", "CI-main-2", "c2"),
        ("severity_changed", "CI-main-2", "c2"),
        ("resolved", "CI-main-3", "c3"),
        ("reopened", "CI-main-4", "c4"),
    ]
    triage = response.json()["results"][5]
    assert triage["event"] == "triage_changed" and triage["actor"] == "admin"
    assert triage["details"] == {"old": {"false_p": False}, "new": {"false_p": True}}
    assert api.get("/api/v2/findings/999999/history/").status_code == 404
