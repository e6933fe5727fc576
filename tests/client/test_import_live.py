"""`vulntrail import` against a live vulntrail server (SQLite and PostgreSQL), as a GitLab job."""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from client_support import gitlab_vars, isolate_env, run_import

from conftest import TOKEN, LiveServer
from reports import Report, Vuln
from vulntrail.client.errors import ExitCode

VULNTRAIL = Path(sys.executable).parent / "vulntrail"
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

BASE = [
    Vuln("CVE-2023-0001", "libssl3", severity="HIGH", fixed="3.0.2"),
    Vuln("CVE-2023-0002", "zlib1g", severity="MEDIUM"),
]
NEW_CRITICAL = Vuln("CVE-2024-9999", "openssl", severity="CRITICAL", title="openssl: bad bug")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_env(monkeypatch)


def _report(tmp_path: Path, vulns: list[Vuln], name: str = "trivy.json") -> Path:
    path = tmp_path / name
    path.write_bytes(Report(os_vulns=vulns).to_json())
    return path


def _job_env(server: LiveServer, **ci: Any) -> dict[str, str]:
    return {
        **gitlab_vars(**ci),
        "VULNTRAIL_URL": server.url,
        "VULNTRAIL_TOKEN": TOKEN,
        "VULNTRAIL_PRODUCT_PREFIX": "orchestrator-",
    }


def test_in_a_gitlab_job_the_report_alone_imports_with_the_seeds_fields(
    live_server: LiveServer, tmp_path: Path
) -> None:
    report = _report(tmp_path, BASE)
    env = {**os.environ, **_job_env(live_server, project="server", pipeline=1234, sha="abc12345")}
    done = subprocess.run(
        [str(VULNTRAIL), "import", report.name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    with live_server.client() as api:
        engagements = api.get(
            "/api/v2/engagements/", params={"product_name": "orchestrator-server"}
        ).json()["results"]
        assert [(e["name"], e["branch_tag"], e["commit_hash"]) for e in engagements] == [
            ("CI-main-1234", "main", "abc12345")
        ]
        tests = api.get("/api/v2/tests/", params={"engagement": engagements[0]["id"]}).json()
    assert [t["scan_type"] for t in tests["results"]] == ["Trivy Scan"]
    assert "imported into orchestrator-server / CI-main-1234" in done.stdout
    assert "created 2, resolved 0, reopened 0" in done.stdout
    assert f"{live_server.url}/engagements/{engagements[0]['id']}" in done.stdout
    assert TOKEN not in done.stdout + done.stderr


def test_the_gate_fails_on_the_one_critical_a_second_run_introduces(
    live_server: LiveServer, tmp_path: Path
) -> None:
    first = run_import(
        [str(_report(tmp_path, BASE, "one.json")), "--fail-on", "new:critical"],
        _job_env(live_server, pipeline=100),
    )
    assert first.exit_code == 0, first.output
    assert "gate new:critical: passed (0 finding(s))" in first.stdout

    second_report = _report(tmp_path, [*BASE, NEW_CRITICAL], "two.json")
    junit, markdown = tmp_path / "junit.xml", tmp_path / "summary.md"
    args = [str(second_report), "--fail-on", "new:critical,new:high"]
    second = run_import(
        [*args, "--junit", str(junit), "--job-summary", str(markdown)],
        _job_env(live_server, pipeline=101),
    )
    assert second.exit_code == ExitCode.GATE_FAILED, second.output
    assert "created 1, resolved 0, reopened 0" in second.stdout
    assert "open in this run: Critical 1, High 1, Medium 1, Low 0, Info 0" in second.stdout
    assert "gate new:critical: FAILED (1 finding(s))" in second.stdout
    assert "gate new:high: passed (0 finding(s))" in second.stdout
    table = [line for line in second.stdout.splitlines() if "CVE-" in line]
    assert len(table) == 1 and table[0].split()[:4] == [
        "Critical",
        "CVE-2024-9999",
        "openssl",
        "1.0.0",
    ]

    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "1")
    failure = suite.find("testcase[@name='gate new:critical']/failure")
    assert failure is not None and "CVE-2024-9999" in (failure.text or "")
    text = markdown.read_text()
    assert "❌ gate `new:critical`: 1 finding(s)" in text and "/engagements/" in text

    # The same job retried (its first answer lost): the import is a no-op, the gate still holds.
    retry = run_import(args, _job_env(live_server, pipeline=101))
    assert retry.exit_code == ExitCode.GATE_FAILED, retry.output
    assert "created 0" in retry.stdout and "CVE-2024-9999" in retry.stdout

    # A third run with the same findings introduces nothing, but the Critical is still open.
    third = run_import(
        [str(second_report), "--fail-on", "new:critical,open:critical"],
        _job_env(live_server, pipeline=102),
    )
    assert third.exit_code == ExitCode.GATE_FAILED, third.output
    assert "gate new:critical: passed" in third.stdout
    assert "gate open:critical: FAILED (1 finding(s))" in third.stdout


@SQLITE_ONLY
def test_a_feature_branch_is_gated_against_the_default_branch(
    live_server: LiveServer, tmp_path: Path
) -> None:
    main_report = _report(tmp_path, [*BASE, NEW_CRITICAL], "main.json")
    assert run_import([str(main_report)], _job_env(live_server, pipeline=200)).exit_code == 0
    other = Vuln("CVE-2024-7777", "curl", severity="CRITICAL")
    branch_report = _report(tmp_path, [*BASE, NEW_CRITICAL, other], "branch.json")
    result = run_import(
        [str(branch_report), "--fail-on", "new:critical"],
        _job_env(live_server, branch="feature/x", pipeline=201),
    )
    assert result.exit_code == ExitCode.GATE_FAILED, result.output
    assert "gate new:critical: FAILED (1 finding(s))" in result.stdout
    assert "CVE-2024-7777" in result.stdout and "CVE-2024-9999" not in result.stdout


@SQLITE_ONLY
def test_a_refused_token_exits_3_and_is_never_printed(
    live_server: LiveServer, tmp_path: Path
) -> None:
    secret = "vtr_wrong-token-that-must-not-leak-0123456789"
    env = {**_job_env(live_server), "VULNTRAIL_TOKEN": secret}
    result = run_import([str(_report(tmp_path, BASE)), "--verbose"], env)
    assert result.exit_code == ExitCode.BAD_CREDENTIALS
    assert (
        "error [bad credentials]: import: the server refused the credentials (HTTP 401)"
        in result.stderr
    )
    assert secret not in result.output


@SQLITE_ONLY
def test_a_report_the_server_cannot_parse_exits_4_with_the_servers_reason(
    live_server: LiveServer, tmp_path: Path
) -> None:
    broken = tmp_path / "trivy.json"
    broken.write_text('{"SchemaVersion": 2, "Results": [')
    result = run_import([str(broken)], _job_env(live_server))
    assert result.exit_code == ExitCode.BAD_REPORT, result.output
    assert (
        "error [bad report]: import: the server rejected the request (HTTP 400): file:"
        in result.stderr
    )


def test_an_unreadable_report_exits_4_before_any_request(tmp_path: Path) -> None:
    env = {**gitlab_vars(), "VULNTRAIL_URL": "http://127.0.0.1:9", "VULNTRAIL_TOKEN": TOKEN}
    result = run_import([str(tmp_path / "missing.json")], env)
    assert result.exit_code == ExitCode.BAD_REPORT
    assert "cannot read the report" in result.stderr


def test_no_credentials_at_all_is_a_usage_error_naming_the_three_ways(tmp_path: Path) -> None:
    env = {**gitlab_vars(), "VULNTRAIL_URL": "http://127.0.0.1:9"}
    result = run_import([str(_report(tmp_path, BASE))], env)
    assert result.exit_code == ExitCode.USAGE
    assert "--oidc-token-var" in result.stderr and "--vault-addr" in result.stderr
    assert "VULNTRAIL_TOKEN" in result.stderr


def test_a_bad_gate_rule_fails_before_anything_is_sent(tmp_path: Path) -> None:
    env = {**gitlab_vars(), "VULNTRAIL_URL": "http://127.0.0.1:9", "VULNTRAIL_TOKEN": TOKEN}
    result = run_import([str(_report(tmp_path, BASE)), "--fail-on", "new:severe"], env)
    assert result.exit_code == ExitCode.USAGE
    assert "--fail-on 'new:severe'" in result.stderr
