"""The read side DefectDojo clients and scripts use, on a live server with real imports."""

from __future__ import annotations

import httpx

from reports import Report, Vuln, findings, import_scan

A = Vuln("CVE-2024-1000", "openssl", "3.0.1", severity="CRITICAL", fixed="3.0.9")
B = Vuln("CVE-2024-2000", "zlib", "1.2.13", severity="LOW")
C = Vuln("CVE-2024-3000", "curl", "8.0.0", severity="MEDIUM")


def _seed(api) -> dict:
    first = import_scan(
        api, Report("app:1", [A, B]).to_json(), engagement="CI-main-1233", commit_hash="aaa"
    ).json()
    second = import_scan(
        api, Report("app:2", [A, C]).to_json(), engagement="CI-main-1234", commit_hash="bbb"
    ).json()
    import_scan(
        api, Report("web:7", [A]).to_json(), product="orchestrator-ui", engagement="CI-main-77"
    )
    return {"first": first, "second": second}


def test_dd_import_client_flow_lookup_create_then_reimport_by_test_id(api):
    """dd-import: look up or create product type, product, engagement, test; PATCH build info; reimport."""
    types = api.get("/api/v2/product_types/", params={"name": "Platform"}).json()
    assert types["count"] == 0
    product_type = api.post("/api/v2/product_types/", json={"name": "Platform"}).json()
    assert api.post("/api/v2/product_types/", json={"name": "Platform"}).status_code == 400
    assert (
        api.get(
            "/api/v2/products/",
            params={"name": "orchestrator-server", "prod_type": product_type["id"]},
        ).json()["count"]
        == 0
    )
    product = api.post(
        "/api/v2/products/",
        json={"name": "orchestrator-server", "description": "API", "prod_type": product_type["id"]},
    )
    assert product.status_code == 201, product.text
    product_id = product.json()["id"]
    engagement = api.post(
        "/api/v2/engagements/",
        json={
            "name": "CI-main-1234",
            "product": product_id,
            "target_start": "2026-11-01",
            "target_end": "2026-11-30",
            "engagement_type": "CI/CD",
            "status": "In Progress",
        },
    ).json()
    found = api.get(
        "/api/v2/engagements/", params={"product": product_id, "name": "CI-main-1234"}
    ).json()
    assert [e["id"] for e in found["results"]] == [engagement["id"]]
    patched = api.patch(
        f"/api/v2/engagements/{engagement['id']}/",
        json={"build_id": "1234", "commit_hash": "abc1234", "branch_tag": "main"},
    )
    assert patched.status_code == 200 and patched.json()["commit_hash"] == "abc1234"
    test_type = api.get("/api/v2/test_types/", params={"name": "Trivy Scan"}).json()["results"][0]
    assert (
        api.get("/api/v2/tests/", params={"title": "image", "engagement": engagement["id"]}).json()[
            "count"
        ]
        == 0
    )
    test = api.post(
        "/api/v2/tests/",
        json={
            "title": "image",
            "engagement": engagement["id"],
            "test_type": test_type["id"],
            "target_start": "2026-11-01",
            "target_end": "2999-12-31",
        },
    )
    assert test.status_code == 201, test.text
    response = api.post(
        "/api/v2/reimport-scan/",
        data={
            "scan_type": "Trivy Scan",
            "test": str(test.json()["id"]),
            "active": "true",
            "verified": "true",
            "close_old_findings": "true",
            "push_to_jira": "false",
            "minimum_severity": "Info",
        },
        files={"file": ("trivy.json", Report(os_vulns=[A, B]).to_json(), "application/json")},
    )
    assert response.status_code == 201, response.text
    assert response.json()["test"] == test.json()["id"]
    assert response.json()["statistics"]["after"]["total"]["total"] == 2
    rows = findings(api, product_name="orchestrator-server", active="true")
    assert len(rows) == 2 and all(r["verified"] for r in rows)


def test_product_lookup_by_name_then_engagement_then_reimport(api):
    ids = _seed(api)
    product = api.get("/api/v2/products/", params={"name": "orchestrator-server"}).json()[
        "results"
    ][0]
    engagement = api.get(
        "/api/v2/engagements/", params={"product": product["id"], "name": "CI-main-1234"}
    ).json()["results"][0]
    test = api.get("/api/v2/tests/", params={"engagement": engagement["id"]}).json()["results"][0]
    assert test["id"] == ids["second"]["test"]
    response = api.post(
        "/api/v2/reimport-scan/",
        data={"scan_type": "Trivy Scan", "test": str(test["id"])},
        files={"file": ("trivy.json", Report("app:2", [A, B, C]).to_json(), "application/json")},
    )
    assert response.status_code == 201
    # zlib was in run 1233 too: against the previous run it is carried over, and open again.
    assert response.json()["statistics"]["delta"]["untouched"]["low"]["total"] == 1
    assert [
        f["active"]
        for f in findings(api, product_name="orchestrator-server", component_name="zlib")
    ] == [True]


def test_finding_filters_match_known_data(api):
    _seed(api)

    def ids(**params):
        return sorted(
            f["vulnerability_ids"][0]["vulnerability_id"]
            for f in findings(api, product_name="orchestrator-server", **params)
        )

    assert ids() == ["CVE-2024-1000", "CVE-2024-2000", "CVE-2024-3000"]
    assert ids(active="true") == ["CVE-2024-1000", "CVE-2024-3000"]
    assert ids(is_mitigated="true") == ["CVE-2024-2000"]
    assert ids(severity="Critical") == ["CVE-2024-1000"]
    assert ids(vulnerability_id="CVE-2024-3000") == ["CVE-2024-3000"]
    assert ids(component_name="zlib") == ["CVE-2024-2000"]
    assert ids(component_version="8.0.0") == ["CVE-2024-3000"]
    assert ids(title="curl") == ["CVE-2024-3000"]
    first = api.get("/api/v2/engagements/", params={"name": "CI-main-1233"}).json()["results"][0]
    assert ids(engagement=first["id"]) == ["CVE-2024-1000", "CVE-2024-2000"]
    test = api.get("/api/v2/tests/", params={"engagement": first["id"]}).json()["results"][0]
    assert ids(test=test["id"]) == ["CVE-2024-1000", "CVE-2024-2000"]
    assert ids(duplicate="true") == []
    ordered = [
        f["severity"]
        for f in findings(api, product_name="orchestrator-server", ordering="-severity")
    ]
    assert ordered == ["Critical", "Medium", "Low"]
    one = findings(api, product_name="orchestrator-server", vulnerability_id="CVE-2024-1000")[0]
    for key in (
        "id",
        "title",
        "severity",
        "description",
        "mitigation",
        "references",
        "active",
        "verified",
        "is_mitigated",
        "mitigated",
        "false_p",
        "risk_accepted",
        "out_of_scope",
        "duplicate",
        "date",
        "component_name",
        "component_version",
        "file_path",
        "cwe",
        "cvssv3",
        "cvssv3_score",
        "vulnerability_ids",
        "test",
        "found_by",
        "hash_code",
        "tags",
        "created",
        "last_status_update",
        "first_seen",
        "last_seen",
        "first_seen_engagement",
        "last_seen_engagement",
        "mitigated_engagement",
        "reopen_count",
        "fixed_version",
        "purl",
        "target",
    ):
        assert key in one, key
    assert one["fixed_version"] == "3.0.9" and isinstance(one["cwe"], int)
    assert one["vulnerability_ids"] == [{"vulnerability_id": "CVE-2024-1000"}]


def test_pagination_follows_next_links(api):
    import_scan(api, Report(os_vulns=[Vuln(f"CVE-2023-{n}", f"p{n}") for n in range(7)]).to_json())
    url, seen = "/api/v2/findings/?limit=3", []
    while url:
        page = api.get(url).json()
        assert page["count"] == 7
        seen.extend(f["id"] for f in page["results"])
        url = page["next"]
    assert len(seen) == len(set(seen)) == 7


def test_missing_ids_are_404_and_bad_filters_400(api):
    _seed(api)
    for path in (
        "/api/v2/findings/99999/",
        "/api/v2/engagements/99999/",
        "/api/v2/tests/99999/",
        "/api/v2/products/99999/",
        "/api/v2/product_types/99999/",
        "/api/v2/test_types/99/",
        "/api/v2/engagements/99999/diff/",
        "/api/v2/vulnerabilities/CVE-1999-0001/",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert "detail" in response.json()
    for params in (
        {"active": "maybe"},
        {"severity": "Severe"},
        {"limit": "-1"},
        {"ordering": "password"},
        {"date": "yesterday"},
        {"engagement": "99999"},
        {"cwe": "x"},
    ):
        response = api.get("/api/v2/findings/", params=params)
        assert response.status_code == 400, params
        assert set(response.json()) & set(params), response.json()


def test_cve_across_products_and_run_diff(api):
    ids = _seed(api)
    body = api.get("/api/v2/vulnerabilities/CVE-2024-1000/").json()
    assert body["open_in_products"] == 2
    assert [p["product_name"] for p in body["products"]] == [
        "orchestrator-server",
        "orchestrator-ui",
    ]
    server = body["products"][0]["findings"][0]
    assert (server["component_version"], server["first_seen_engagement_name"]) == (
        "3.0.1",
        "CI-main-1233",
    )
    diff = api.get(f"/api/v2/engagements/{ids['second']['engagement_id']}/diff/").json()
    assert [f["vulnerability_ids"][0]["vulnerability_id"] for f in diff["introduced"]] == [
        "CVE-2024-3000"
    ]
    assert [f["vulnerability_ids"][0]["vulnerability_id"] for f in diff["resolved"]] == [
        "CVE-2024-2000"
    ]
    assert diff["previous_engagement"]["name"] == "CI-main-1233" and diff["unchanged_count"] == 1


def test_default_branch_change_rederives_status(api):
    import_scan(api, Report(os_vulns=[A]).to_json(), engagement="CI-main-1")
    import_scan(
        api, Report(os_vulns=[B]).to_json(), engagement="CI-develop-2", branch_tag="develop"
    )
    product = api.get("/api/v2/products/", params={"name_exact": "orchestrator-server"}).json()[
        "results"
    ][0]
    assert (
        api.patch(
            f"/api/v2/products/{product['id']}/", json={"default_branch": "develop"}
        ).status_code
        == 200
    )
    state = {
        f["vulnerability_ids"][0]["vulnerability_id"]: f["active"]
        for f in findings(api, product_name="orchestrator-server")
    }
    assert state == {"CVE-2024-1000": False, "CVE-2024-2000": True}


def test_openapi_is_served_and_documents_the_endpoints(live_server):
    schema = httpx.get(live_server.url + "/api/v2/oas3/").json()
    paths = schema["paths"]
    for path in (
        "/api/v2/import-scan/",
        "/api/v2/reimport-scan/",
        "/api/v2/findings/",
        "/api/v2/findings/{finding_id}/history/",
        "/api/v2/products/",
        "/api/v2/engagements/",
        "/api/v2/tests/",
        "/api/v2/vulnerabilities/{vulnerability_id}/",
        "/api/v2/engagements/{engagement_id}/diff/",
        "/api/v2/test_types/",
    ):
        assert path in paths, path
    assert httpx.get(live_server.url + "/docs").status_code == 200


def test_any_finding_query_exports_as_csv_json_and_sarif(api):
    import csv
    import io
    import json as jsonlib

    _seed(api)
    response = api.get(
        "/api/v2/findings/export.csv",
        params={"product_name": "orchestrator-server", "active": "true"},
    )
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert sorted(r["vulnerability_id"] for r in rows) == ["CVE-2024-1000", "CVE-2024-3000"]
    data = jsonlib.loads(
        api.get("/api/v2/findings/export.json", params={"severity": "Critical"}).text
    )
    assert {r["product"] for r in data["results"]} == {"orchestrator-server", "orchestrator-ui"}
    sarif = jsonlib.loads(api.get("/api/v2/findings/export.sarif").text)
    assert sarif["version"] == "2.1.0" and len(sarif["runs"][0]["results"]) == 4
    assert api.get("/api/v2/findings/export.xml").status_code in (400, 404)
