"""Invariant 1: a finding is the same issue in the same place, whatever the rebuild changed."""

from __future__ import annotations

from reports import Report, Vuln, findings, import_scan


def _ids(client, **params):
    return {
        (f["vulnerability_ids"][0]["vulnerability_id"], f["component_name"], f["location"]): f
        for f in findings(client, product_name="orchestrator-server", **params)
    }


def test_rebuilt_image_with_a_new_tag_keeps_its_findings(api):
    vulns = [Vuln("CVE-2024-0001", "openssl", "3.0.1"), Vuln("CVE-2024-0002", "zlib", "1.2.13")]
    assert (
        import_scan(
            api, Report("reg.test/app:1", vulns).to_json(), engagement="CI-main-1"
        ).status_code
        == 201
    )
    second = import_scan(api, Report("reg.test/app:2", vulns).to_json(), engagement="CI-main-2")
    assert second.status_code == 201
    delta = second.json()["statistics"]["delta"]
    assert delta["created"]["total"]["total"] == 0
    assert delta["untouched"]["total"]["total"] == 2
    assert len(findings(api, product_name="orchestrator-server")) == 2


def test_upgraded_but_still_vulnerable_package_is_the_same_finding_with_new_version(api):
    def report(version: str, artifact: str) -> bytes:
        path = f"usr/local/lib/python3.11/site-packages/requests-{version}.dist-info/METADATA"
        return Report(
            artifact, pip_vulns=[Vuln("CVE-2024-35195", "requests", version, path=path)]
        ).to_json()

    import_scan(api, report("2.31.0", "app:1"), engagement="CI-main-1")
    import_scan(api, report("2.32.0", "app:2"), engagement="CI-main-2")
    rows = findings(api, product_name="orchestrator-server")
    assert len(rows) == 1
    assert rows[0]["component_version"] == "2.32.0"
    assert rows[0]["active"] is True
    assert rows[0]["reopen_count"] == 0
    assert "2.32.0" in rows[0]["file_path"]


def test_severity_change_upstream_updates_the_same_finding(api):
    import_scan(
        api,
        Report(os_vulns=[Vuln("CVE-2024-1", "curl", severity="MEDIUM")]).to_json(),
        engagement="CI-main-1",
    )
    second = import_scan(
        api,
        Report(os_vulns=[Vuln("CVE-2024-1", "curl", severity="CRITICAL")]).to_json(),
        engagement="CI-main-2",
    )
    assert second.json()["statistics"]["delta"]["untouched"]["critical"]["total"] == 1
    rows = findings(api, product_name="orchestrator-server")
    assert [(r["severity"], r["active"]) for r in rows] == [("Critical", True)]


def test_same_cve_in_two_packages_or_two_places_are_different_findings(api):
    report = Report(
        os_vulns=[Vuln("CVE-2024-9", "libssl3"), Vuln("CVE-2024-9", "openssl")],
        pip_vulns=[
            Vuln("CVE-2024-8", "jinja2", "3.1.2", path="srv/a/requirements.txt"),
            Vuln("CVE-2024-8", "jinja2", "3.1.2", path="srv/b/requirements.txt"),
        ],
    ).to_json()
    response = import_scan(api, report)
    assert response.json()["statistics"]["after"]["total"]["total"] == 4
    assert len(findings(api, product_name="orchestrator-server")) == 4


def test_secret_and_misconfiguration_that_moved_lines_stay_the_same_findings(api):
    def report(line: int) -> bytes:
        return Report(
            secrets=[
                {
                    "RuleID": "aws-access-key-id",
                    "Category": "AWS",
                    "Severity": "CRITICAL",
                    "Title": "AWS Access Key ID",
                    "StartLine": line,
                    "EndLine": line,
                    "Match": "AWS_ACCESS_KEY_ID=********************",
                }
            ],
            misconfigs=[
                {
                    "Type": "Dockerfile Security Check",
                    "ID": "DS002",
                    "AVDID": "AVD-DS-0002",
                    "Title": "Image user should not be 'root'",
                    "Severity": "HIGH",
                    "Status": "FAIL",
                    "Message": "Specify at least 1 USER command in Dockerfile",
                    "CauseMetadata": {"StartLine": line, "EndLine": line},
                }
            ],
        ).to_json()

    import_scan(api, report(3), engagement="CI-main-1")
    second = import_scan(api, report(17), engagement="CI-main-2")
    delta = second.json()["statistics"]["delta"]
    assert delta["created"]["total"]["total"] == 0
    assert delta["closed"]["total"]["total"] == 0
    rows = findings(api, product_name="orchestrator-server")
    assert len(rows) == 2
    assert sorted(r["line"] for r in rows) == [17, 17]
