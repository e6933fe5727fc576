"""The CI job's OIDC JWT sent directly as `Authorization: Bearer <jwt>` (client half).

The server half (vulntrail trusting the CI issuer) is another issue; these tests
pin what the client sends, to a scripted HTTP peer on loopback.
"""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from client_support import Reply, StubServer, created_body, gitlab_vars, isolate_env, run_import

from reports import Report, Vuln
from vulntrail.client.errors import ExitCode

JOB_JWT = jwt.encode(
    {"iss": "https://gitlab.test", "sub": "project_path:sec/server", "exp": int(time.time()) + 300},
    "test-only-hmac-key-of-sufficient-length",
    algorithm="HS256",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    isolate_env(monkeypatch)


@pytest.fixture
def report(tmp_path: Path) -> Path:
    path = tmp_path / "trivy.json"
    path.write_bytes(Report(os_vulns=[Vuln("CVE-2024-1", "openssl")]).to_json())
    return path


def test_the_named_id_token_goes_out_as_a_bearer_header(report: Path) -> None:
    with StubServer([Reply(201, created_body())]) as server:
        env = {
            **gitlab_vars(),
            "VULNTRAIL_URL": server.url,
            "VULNTRAIL_ID_TOKEN": JOB_JWT,
            # auto prefers the job's JWT over a stored token
            "VULNTRAIL_TOKEN": "vtr_stored-token-not-preferred",
        }
        result = run_import([str(report), "--oidc-token-var", "VULNTRAIL_ID_TOKEN", "-v"], env)
    assert result.exit_code == ExitCode.OK, result.output
    assert {s.headers["Authorization"] for s in server.seen} == {f"Bearer {JOB_JWT}"}
    assert "credentials: the CI job's OIDC JWT from VULNTRAIL_ID_TOKEN" in result.stderr
    assert JOB_JWT not in result.output


def test_a_server_that_does_not_trust_the_jwt_exits_3_without_printing_it(report: Path) -> None:
    with StubServer([Reply(401, {"detail": f"Invalid token {JOB_JWT[:40]}"})]) as server:
        env = {**gitlab_vars(), "VULNTRAIL_URL": server.url, "ID_TOKEN_1": JOB_JWT}
        result = run_import([str(report), "--auth", "oidc", "--oidc-token-var", "ID_TOKEN_1"], env)
    assert result.exit_code == ExitCode.BAD_CREDENTIALS
    assert JOB_JWT not in result.output


def test_an_empty_id_token_variable_is_a_usage_error_naming_it(report: Path) -> None:
    env = {**gitlab_vars(), "VULNTRAIL_URL": "http://127.0.0.1:9"}
    result = run_import([str(report), "--oidc-token-var", "VULNTRAIL_ID_TOKEN"], env)
    assert result.exit_code == ExitCode.USAGE
    assert "VULNTRAIL_ID_TOKEN is empty or unset" in result.stderr
    assert "id_tokens:" in result.stderr


def test_on_github_actions_the_jwt_is_requested_with_the_audience(report: Path) -> None:
    request_token = "ghs_runtime-request-token-0123456789"
    issuer = StubServer([], gets={"/oidc/token": Reply(200, {"value": JOB_JWT})})
    with issuer, StubServer([Reply(201, created_body())]) as server:
        env = {
            "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": "cwiq/server",
            "GITHUB_REF_NAME": "main",
            "GITHUB_RUN_ID": "4242",
            "GITHUB_SHA": "0123456789abcdef0123456789abcdef01234567",
            "ACTIONS_ID_TOKEN_REQUEST_URL": f"{issuer.url}/oidc/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": request_token,
            "VULNTRAIL_URL": server.url,
        }
        result = run_import([str(report), "--auth", "oidc", "--jwt-audience", "vulntrail"], env)
    assert result.exit_code == ExitCode.OK, result.output
    (asked,) = issuer.seen
    assert asked.headers["Authorization"] == f"bearer {request_token}"
    assert parse_qs(urlsplit(asked.path).query) == {
        "api-version": ["2.0"],
        "audience": ["vulntrail"],
    }
    assert server.posts[0].headers["Authorization"] == f"Bearer {JOB_JWT}"
    assert JOB_JWT not in result.output and request_token not in result.output
