"""A pipeline imports with its own OIDC JWT and no stored secret, under a trust policy.

The test plays the CI provider: it makes a key pair, serves the JWKS on loopback and
signs job tokens the way GitLab does (`project_path`, `ref_protected`, `aud`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from conftest import TOKEN, start_server
from reports import Report, Vuln, import_scan
from vulntrail.config import Settings

ISSUER = "https://gitlab.example.test"
A = Vuln("CVE-2024-7777", "openssl", "3.0.1")


class Provider:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        self.jwks = {"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]}
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(provider.jwks).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def token(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "sub": "project_path:cwiq/orchestrator-server:ref_type:branch:ref:main",
            "aud": "vulntrail",
            "iat": now,
            "nbf": now,
            "exp": now + 300,
            "project_path": "cwiq/orchestrator-server",
            "ref_protected": "true",
            **overrides,
        }
        return jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": "k1"})


@pytest.fixture
def provider() -> Iterator[Provider]:
    provider = Provider()
    yield provider
    provider.server.shutdown()


@pytest.fixture
def trusted_server(database_url: str, provider: Provider) -> Iterator[str]:
    policy = [
        {
            "name": "gitlab",
            "issuer": ISSUER,
            "audience": "vulntrail",
            "jwks_url": provider.url,
            "claims": {"project_path": "cwiq/orchestrator-*", "ref_protected": "true"},
            "role": "importer",
            "products": "orchestrator-*",
        }
    ]
    settings = Settings(
        database_url=database_url, bootstrap_token=TOKEN, ci_trust=json.dumps(policy)
    )
    server, thread, url = start_server(settings)
    yield url
    server.should_exit = True
    thread.join(timeout=30)


def _client(url: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


def _refusals(url: str) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, headers={"Authorization": f"Token {TOKEN}"}) as admin:
        return admin.get(
            "/api/v2/audit/", params={"action": "ci_jwt_login", "outcome": "refused"}
        ).json()["results"]


def test_a_job_imports_with_its_own_jwt(trusted_server, provider):
    with _client(trusted_server, provider.token()) as job:
        response = import_scan(job, Report(os_vulns=[A]).to_json(), product="orchestrator-server")
        assert response.status_code == 201, response.text
        assert (
            job.get("/api/v2/findings/", params={"product_name": "orchestrator-server"}).json()[
                "count"
            ]
            == 1
        )
        # The policy grants import on orchestrator-* only.
        assert (
            import_scan(job, Report(os_vulns=[A]).to_json(), product="billing-api").status_code
            == 403
        )
    with httpx.Client(
        base_url=trusted_server, headers={"Authorization": f"Token {TOKEN}"}
    ) as admin:
        imports = admin.get("/api/v2/audit/", params={"action": "import"}).json()["results"]
    assert imports[0]["actor"].startswith("ci:gitlab:project_path:cwiq/orchestrator-server")


@pytest.mark.parametrize(
    ("claims", "status", "reason"),
    [
        ({"project_path": "other/billing-api"}, 403, "project_path"),
        ({"ref_protected": "false"}, 403, "ref_protected"),
        ({"exp": int(time.time()) - 3600, "nbf": int(time.time()) - 7200}, 401, "expired"),
        ({"aud": "someone-else"}, 401, "audience"),
    ],
)
def test_untrusted_or_invalid_jobs_are_refused_and_audited(
    trusted_server, provider, claims, status, reason
):
    with _client(trusted_server, provider.token(**claims)) as job:
        response = import_scan(job, Report(os_vulns=[A]).to_json(), product="orchestrator-server")
    assert response.status_code == status
    assert reason in response.json()["detail"]
    refusals = _refusals(trusted_server)
    assert len(refusals) == 1 and reason in refusals[0]["details"]["reason"]


def test_a_token_signed_by_another_key_is_refused(trusted_server, provider):
    forged = jwt.encode(
        {
            "iss": ISSUER,
            "aud": "vulntrail",
            "exp": int(time.time()) + 60,
            "sub": "x",
            "project_path": "cwiq/orchestrator-server",
            "ref_protected": "true",
        },
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": "k1"},
    )
    with _client(trusted_server, forged) as job:
        assert job.get("/api/v2/products/").status_code == 401
