"""Delivery against a scripted HTTP peer: retries, exit codes, and the DefectDojo fallback."""

from __future__ import annotations

from pathlib import Path

import pytest
from client_support import Reply, StubServer, created_body, gitlab_vars, isolate_env, run_import

from conftest import free_port
from reports import Report, Vuln
from vulntrail.client.errors import ExitCode
from vulntrail.client.retry import RetryPolicy, parse_retry_after

TOKEN = "vtr_stub-token-0123456789abcdefghijklmnop"
FAST = ["--retry-backoff", "0.01"]


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_env(monkeypatch)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "trivy.json"
    path.write_bytes(
        Report(os_vulns=[Vuln("CVE-2024-1", "openssl", severity="CRITICAL")]).to_json()
    )
    return path


def _env(url: str) -> dict[str, str]:
    return {
        **gitlab_vars(project="agent", pipeline=77, sha="feed1234"),
        "VULNTRAIL_URL": url,
        "VULNTRAIL_TOKEN": TOKEN,
    }


def test_503_and_429_are_retried_until_the_import_is_accepted(report: Path) -> None:
    busy = Reply(503, {"detail": "busy"}, {"Retry-After": "0"})
    script = [busy, Reply(429, {"detail": "slow down"}), busy, Reply(201, created_body())]
    with StubServer(script) as server:
        result = run_import([str(report), *FAST, "--verbose"], _env(server.url))
    assert result.exit_code == ExitCode.OK, result.output
    assert len(server.posts) == 4
    assert result.stderr.count("trying again") == 3
    assert "HTTP 429: slow down" in result.stderr
    assert TOKEN not in result.output


def test_every_attempt_carries_the_seeds_fields_and_the_token(report: Path) -> None:
    with StubServer([Reply(502), Reply(201, created_body())]) as server:
        assert run_import([str(report), *FAST], _env(server.url)).exit_code == ExitCode.OK
    for post in server.posts:
        assert post.headers["Authorization"] == f"Token {TOKEN}"
        body = post.body.decode()
        for name, value in [
            ("scan_type", "Trivy Scan"),
            ("product_name", "agent"),
            ("engagement_name", "CI-main-77"),
            ("auto_create_context", "true"),
            ("branch_tag", "main"),
            ("commit_hash", "feed1234"),
        ]:
            assert f'name="{name}"\r\n\r\n{value}\r\n' in body
        assert 'name="file"; filename="trivy.json"' in body


def test_a_server_that_stays_unavailable_exits_5_after_the_retries(report: Path) -> None:
    with StubServer([Reply(503, {"detail": "db down"})] * 5) as server:
        result = run_import([str(report), *FAST, "--retries", "2"], _env(server.url))
    assert result.exit_code == ExitCode.UNREACHABLE
    assert len(server.posts) == 3
    assert "unavailable after 3 attempt(s); last error: HTTP 503: db down" in result.stderr


def test_a_server_nobody_listens_on_exits_5(report: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run_import([str(report), *FAST, "--retries", "1"], _env(url))
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "error [unreachable]:" in result.stderr and "ConnectError" in result.stderr


@pytest.mark.parametrize(
    ("status", "code", "label"),
    [
        (401, ExitCode.BAD_CREDENTIALS, "bad credentials"),
        (403, ExitCode.BAD_CREDENTIALS, "bad credentials"),
        (400, ExitCode.BAD_REPORT, "bad report"),
        (413, ExitCode.BAD_REPORT, "bad report"),
    ],
)
def test_refusals_are_not_retried_and_have_their_own_exit_code(
    report: Path, status: int, code: ExitCode, label: str
) -> None:
    body = {"file": ["not a Trivy report"]} if status == 400 else {"detail": f"no ({TOKEN})"}
    with StubServer([Reply(status, body), Reply(201, created_body())]) as server:
        result = run_import([str(report), *FAST], _env(server.url))
    assert result.exit_code == code
    assert len(server.posts) == 1
    assert f"error [{label}]: import:" in result.stderr and f"(HTTP {status})" in result.stderr
    # Even a server that echoes the token back does not get it printed.
    assert TOKEN not in result.output


def test_against_defectdojo_the_gate_falls_back_to_the_statistics(report: Path) -> None:
    with StubServer([Reply(201, created_body(critical_created=1, engagement_id=9))]) as server:
        result = run_import([str(report), "--fail-on", "new:critical,new:high"], _env(server.url))
    assert result.exit_code == ExitCode.GATE_FAILED, result.output
    assert "gate new:critical: FAILED (1 finding(s))" in result.stdout
    assert "gate new:high: passed" in result.stdout
    # DefectDojo's engagement page, not vulntrail's.
    assert f"engagement: {server.url}/engagement/9" in result.stdout


def test_the_github_step_summary_is_appended_to(report: Path, tmp_path: Path) -> None:
    summary = tmp_path / "step_summary.md"
    summary.write_text("# earlier step\n")
    with StubServer([Reply(201, created_body())]) as server:
        env = {**_env(server.url), "GITHUB_STEP_SUMMARY": str(summary)}
        assert run_import([str(report)], env).exit_code == ExitCode.OK
    text = summary.read_text()
    assert text.startswith("# earlier step\n## vulntrail: agent / [CI-main-77](")


def test_retry_after_wins_over_backoff_within_the_cap() -> None:
    policy = RetryPolicy(backoff=1.0, max_wait=10.0)
    assert policy.wait(1, "3") == 3.0
    assert policy.wait(1, "120") == 10.0
    assert 4.0 <= policy.wait(4) <= 8.0  # 1·2³ with jitter in [0.5, 1]
    assert policy.wait(9) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None
