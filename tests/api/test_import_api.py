"""The import endpoints as DefectDojo clients call them: fields, targets, answers, errors."""

from __future__ import annotations

from dbstate import snapshot
from reports import Report, Vuln, findings, import_scan

A = Vuln("CVE-2024-1000", "openssl", "3.0.1", severity="CRITICAL")
B = Vuln("CVE-2024-2000", "zlib", "1.2.13", severity="LOW")


def test_seed_call_answers_201_with_defectdojo_shape(api):
    response = import_scan(
        api,
        Report(os_vulns=[A, B]).to_json(),
        engagement="CI-main-1234",
        branch_tag="main",
        commit_hash="abc1234",
    )
    assert response.status_code == 201
    body = response.json()
    for key in ("test", "test_id", "engagement_id", "product_id", "product_type_id", "statistics"):
        assert isinstance(body[key], (int, dict)), key
    assert body["test"] == body["test_id"]
    stats = body["statistics"]
    assert set(stats) == {"before", "delta", "after"}
    assert set(stats["delta"]) == {"created", "closed", "reactivated", "untouched"}
    assert set(stats["after"]) == {"info", "low", "medium", "high", "critical", "total"}
    assert stats["after"]["critical"] == {
        "active": 1,
        "verified": 0,
        "duplicate": 0,
        "false_p": 0,
        "out_of_scope": 0,
        "is_mitigated": 0,
        "risk_accepted": 0,
        "total": 1,
    }
    assert stats["delta"]["created"]["total"]["total"] == 2
    engagement = api.get(f"/api/v2/engagements/{body['engagement_id']}/").json()
    assert (engagement["name"], engagement["branch_tag"], engagement["commit_hash"]) == (
        "CI-main-1234",
        "main",
        "abc1234",
    )
    product = api.get("/api/v2/products/", params={"name_exact": "orchestrator-server"}).json()[
        "results"
    ][0]
    assert product["id"] == body["product_id"]


def test_without_auto_create_a_missing_product_or_engagement_is_a_clear_404(api, live_server):
    before = snapshot(live_server.database_url)
    response = import_scan(api, Report(os_vulns=[A]).to_json(), auto_create_context="false")
    assert response.status_code == 404
    assert "auto_create_context" in response.json()["product_name"][0]
    assert snapshot(live_server.database_url) == before
    import_scan(api, Report(os_vulns=[A]).to_json(), engagement="CI-main-1")
    response = import_scan(
        api, Report(os_vulns=[A]).to_json(), engagement="CI-main-2", auto_create_context="false"
    )
    assert response.status_code == 404
    assert "CI-main-2" in response.json()["engagement_name"][0]


def test_field_errors_name_the_field(api):
    response = api.post("/api/v2/import-scan/", data={"product_name": "x"})
    assert response.status_code == 400
    body = response.json()
    assert "scan_type" in body and "file" in body
    response = import_scan(api, Report(os_vulns=[A]).to_json(), scan_type="Nessus Scan")
    assert response.status_code == 400
    assert "Trivy Scan" in response.json()["scan_type"][0]
    response = import_scan(
        api, Report(os_vulns=[A]).to_json(), minimum_severity="Severe", scan_date="yesterday"
    )
    assert set(response.json()) == {"minimum_severity", "scan_date"}


def test_reimport_into_a_test_replaces_its_content(api):
    first = import_scan(api, Report(os_vulns=[A, B]).to_json(), engagement="CI-main-1").json()
    again = api.post(
        "/api/v2/reimport-scan/",
        data={"scan_type": "Trivy Scan", "test": str(first["test"])},
        files={"file": ("trivy.json", Report(os_vulns=[A]).to_json(), "application/json")},
    )
    assert again.status_code == 201, again.text
    body = again.json()
    assert body["test"] == first["test"]
    assert body["statistics"]["before"]["total"]["total"] == 2
    assert body["statistics"]["after"]["total"]["total"] == 1
    state = {
        f["vulnerability_ids"][0]["vulnerability_id"]: f
        for f in findings(api, product_name="orchestrator-server")
    }
    # Run 1 is the only run: B was never seen on the track now, it is no longer open.
    assert state["CVE-2024-1000"]["active"] is True
    assert state["CVE-2024-2000"]["active"] is False
    tests = api.get("/api/v2/tests/", params={"engagement": first["engagement_id"]}).json()
    assert tests["count"] == 1


def test_reimport_by_names_finds_the_last_test_of_that_scan_type(api):
    first = import_scan(api, Report(os_vulns=[A]).to_json(), engagement="CI-main-5").json()
    again = import_scan(
        api, Report(os_vulns=[A, B]).to_json(), engagement="CI-main-5", endpoint="reimport-scan"
    )
    assert again.status_code == 201
    assert again.json()["test"] == first["test"]
    assert again.json()["statistics"]["delta"]["created"]["low"]["total"] == 1


def test_minimum_severity_leaves_lower_findings_out(api):
    body = import_scan(api, Report(os_vulns=[A, B]).to_json(), minimum_severity="High").json()
    assert body["statistics"]["after"]["total"]["total"] == 1
    assert [f["severity"] for f in findings(api, product_name="orchestrator-server")] == [
        "Critical"
    ]


def test_engagement_of_one_branch_refuses_a_run_of_another(api):
    import_scan(api, Report(os_vulns=[A]).to_json(), engagement="CI-main-9", branch_tag="main")
    response = import_scan(
        api, Report(os_vulns=[A]).to_json(), engagement="CI-main-9", branch_tag="develop"
    )
    assert response.status_code == 409
    assert "branch" in response.json()["branch_tag"][0]


def test_requests_without_a_valid_token_are_refused(live_server):
    with live_server.client(token=None) as anonymous:
        assert anonymous.get("/api/v2/findings/").status_code == 401
        assert import_scan(anonymous, Report(os_vulns=[A]).to_json()).status_code == 401
    with live_server.client(token="vtr_not-a-real-token") as wrong:
        response = wrong.get("/api/v2/products/")
        assert response.status_code == 401
        assert response.json() == {"detail": "Invalid token."}
    with live_server.client() as client:
        client.headers["Authorization"] = client.headers["Authorization"].replace(
            "Token ", "Bearer "
        )
        assert client.get("/api/v2/products/").status_code == 200


def test_upload_over_the_limit_is_413(live_server, tmp_path):
    from conftest import start_server

    settings = type(live_server.settings)(
        database_url=live_server.database_url,
        bootstrap_token=live_server.settings.bootstrap_token,
        max_upload_bytes=2000,
    )
    server, thread, url = start_server(settings)
    try:
        import httpx

        with httpx.Client(
            base_url=url, headers={"Authorization": f"Token {settings.bootstrap_token}"}
        ) as client:
            response = import_scan(client, Report(os_vulns=[A, B] * 10).to_json())
            assert response.status_code == 413
            assert "2000" in response.json()["file"][0]
    finally:
        server.should_exit = True
        thread.join(timeout=30)
