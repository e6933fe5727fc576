"""Identity providers for the single sign-on tests, and vulntrail servers that trust them.

- `idp` (session fixture): panva's `oidc-provider` 9 on loopback (tests/sso/provider),
  a real OpenID Connect provider with a login form, groups in the ID token, and a
  second client. `npm ci` runs there once if `node_modules` is missing; without `node`
  the SSO tests are skipped with a loud message.
- `StubIdp`: a small provider in this process that signs whatever ID token a test
  asks for with keys it serves from its own JWKS: expired, for another audience, with
  another nonce, signed by an unknown key… The real provider cannot be made to mint
  those, and vulntrail must refuse each one.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import jwt
import pytest
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from conftest import TOKEN, free_port
from vulntrail.api.app import create_app
from vulntrail.config import OidcSettings, Settings, parse_role_map
from vulntrail.store.db import Sessions, make_engine
from vulntrail.store.models import AuditEvent
from vulntrail.web import sessions

PROVIDER_DIR = Path(__file__).resolve().parent / "provider"
CLIENT_ID = "vulntrail"
CLIENT_SECRET = "vulntrail-test-client-secret-0123456789"
OTHER_CLIENT_ID = "other-app"
OTHER_CLIENT_SECRET = "other-app-test-secret"
IDP_PASSWORD = "idp-password-123"
ROLE_MAP = {
    "appsec": [{"role": "admin"}],
    "team-orchestrator": [{"role": "writer", "products": "orchestrator-*"}],
}
USERS = {
    "alice": ["team-orchestrator"],  # writer on orchestrator-*
    "ada": ["appsec"],  # administrator
    "bob": ["contractors"],  # in no mapped group
}


@dataclass(frozen=True)
class Idp:
    """The running provider, and the one port vulntrail servers listen on for it
    (the provider accepts exactly the redirect URIs it was started with)."""

    issuer: str
    vulntrail_port: int

    @property
    def vulntrail_url(self) -> str:
        return f"http://127.0.0.1:{self.vulntrail_port}"


def _ensure_installed() -> str:
    node = shutil.which("node")
    if node is None:
        message = "node is not installed: the single sign-on tests need Node.js 20+"
        print(f"\n*** SKIPPING SSO TESTS: {message} ***\n")
        pytest.skip(message)
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("npm is missing: cannot install tests/sso/provider", pytrace=False)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"],
            cwd=PROVIDER_DIR,
            check=True,
            timeout=300,
            capture_output=True,
        )
    return node


@pytest.fixture(scope="session", name="idp")
def idp_fixture() -> Iterator[Idp]:
    node = _ensure_installed()
    port, vt_port = free_port(), free_port()
    callback = f"http://127.0.0.1:{vt_port}/login/sso/callback"
    users = {
        name: {
            "password": IDP_PASSWORD,
            "claims": {
                "preferred_username": name,
                "email": f"{name}@example.test",
                "email_verified": True,
                "name": name.title(),
                "groups": groups,
            },
        }
        for name, groups in USERS.items()
    }
    # Someone whose provider account claims the name of vulntrail's local admin.
    users["mallory"] = {
        "password": IDP_PASSWORD,
        "claims": {"preferred_username": "admin", "groups": ["appsec"]},
    }
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIENT_ID": CLIENT_ID,
        "CLIENT_SECRET": CLIENT_SECRET,
        "REDIRECT_URI": callback,
        "EXTRA_CLIENTS": json.dumps(
            [
                {
                    "client_id": OTHER_CLIENT_ID,
                    "client_secret": OTHER_CLIENT_SECRET,
                    "redirect_uris": [callback],
                }
            ]
        ),
        "USERS": json.dumps(users),
    }
    process = subprocess.Popen(
        [node, "server.js"],
        cwd=PROVIDER_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    issuer = f"http://127.0.0.1:{port}"
    try:
        _wait_for(issuer + "/.well-known/openid-configuration", process)
        yield Idp(issuer, vt_port)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            err = process.stderr.read().decode() if process.stderr else ""
            raise RuntimeError(f"the OIDC provider exited: {err[-2000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError("the OIDC provider did not answer in time")


def oidc_settings(issuer: str, public_url: str | None = None, **changes: Any) -> OidcSettings:
    base = OidcSettings(
        issuer=issuer,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        role_map=parse_role_map(json.dumps(ROLE_MAP)),
        public_url=public_url,
    )
    return replace(base, **changes)


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


@contextmanager
def vulntrail(database_url: str, oidc: OidcSettings, port: int | None = None) -> Iterator[str]:
    """A vulntrail server on loopback that trusts `oidc`; yields its base URL."""
    settings = Settings(database_url=database_url, bootstrap_token=TOKEN, oidc=oidc)
    port = port or free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("vulntrail did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def provider_callback(
    vt: httpx.Client, username: str, password: str = IDP_PASSWORD, *, next_path: str = ""
) -> str:
    """Start SSO at vulntrail, log in at the real provider's form, and return the
    callback URL the provider sends the browser to (not yet followed)."""
    start = vt.get("/login/sso", params={"next": next_path} if next_path else None)
    assert start.status_code == 303, start.text
    return provider_login(start.headers["location"], username, password)


def provider_login(authorize_url: str, username: str, password: str = IDP_PASSWORD) -> str:
    """The provider's side of a login, as a browser with its own cookie jar does it."""
    with httpx.Client(timeout=30) as browser:
        answer = browser.get(authorize_url)
        while answer.status_code in (302, 303) and "/interaction/" in answer.headers["location"]:
            answer = browser.get(_absolute(answer))
        uid = answer.url.path.rsplit("/", 1)[-1]
        answer = browser.post(
            str(answer.url.join(f"/interaction/{uid}/login")),
            data={"login": username, "password": password},
        )
        while answer.status_code in (302, 303):
            location = _absolute(answer)
            if "/login/sso/callback" in location:
                return location
            answer = browser.get(location)
    raise AssertionError(f"the provider did not send the browser back: {answer.status_code}")


def _absolute(response: httpx.Response) -> str:
    return str(response.url.join(response.headers["location"]))


def audit_events(database_url: str, action: str) -> list[AuditEvent]:
    engine = make_engine(database_url)
    try:
        with Sessions(engine).read() as session:
            return list(
                session.scalars(
                    select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
                )
            )
    finally:
        engine.dispose()


def assert_refused(response: httpx.Response, status: int, text: str) -> None:
    """A refusal: the login page with the reason, no session, the flow cookie cleared."""
    assert response.status_code == status, response.text[-600:]
    assert "Sign-in with SSO failed." in response.text and text in response.text, response.text
    assert sessions.COOKIE not in response.cookies
    cleared = [h for h in response.headers.get_list("set-cookie") if "vulntrail_sso_flow=" in h]
    assert cleared and ("Max-Age=0" in cleared[0] or 'vulntrail_sso_flow=""' in cleared[0])


# --- a provider in this process that signs what the test asks for -------------------


def _jwk(key: rsa.RSAPrivateKey, kid: str) -> dict[str, Any]:
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**public, "kid": kid, "use": "sig", "alg": "RS256"}


@dataclass
class StubIdp:
    """Discovery, JWKS, an authorize endpoint that answers at once, and a token
    endpoint that signs `claims(nonce)` with `signing_key` under `kid`."""

    claims: Callable[[str], dict[str, Any]] = field(default=lambda nonce: {})
    groups_at_userinfo: list[str] | None = None
    port: int = 0
    jwks_fetches: int = 0
    served_kids: list[str] = field(default_factory=lambda: ["k1"])
    kid: str = "k1"
    alg: str = "RS256"
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    signing_key: Any = None
    _nonces: dict[str, str] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def key(self, kid: str) -> rsa.RSAPrivateKey:
        if kid not in self.keys:
            self.keys[kid] = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        return self.keys[kid]

    def standard(self, nonce: str, /, **changes: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": "stub-user-1",
            "aud": CLIENT_ID,
            "iat": now,
            "exp": now + 300,
            "nonce": nonce,
            "preferred_username": "carol",
            "groups": ["team-orchestrator"],
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def start(self) -> StubIdp:
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/.well-known/openid-configuration":
                    self._json(stub.discovery())
                elif url.path == "/jwks":
                    stub.jwks_fetches += 1
                    self._json({"keys": [_jwk(stub.key(k), k) for k in stub.served_kids]})
                elif url.path == "/authorize":
                    self._authorize({k: v[0] for k, v in parse_qs(url.query).items()})
                elif url.path == "/userinfo":
                    self._json({"sub": "stub-user-1", "groups": stub.groups_at_userinfo or []})
                else:
                    self.send_error(404)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
                form = {k: v[0] for k, v in parse_qs(body).items()}
                basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
                nonce = stub._nonces.pop(form.get("code", ""), None)
                if self.headers.get("authorization") != f"Basic {basic}" or nonce is None:
                    self._json({"error": "invalid_grant"}, 400)
                    return
                self._json({"id_token": stub.sign(stub.claims(nonce)), "access_token": "at-1"})

            def _authorize(self, params: dict[str, str]) -> None:
                code = secrets.token_urlsafe(16)
                stub._nonces[code] = params["nonce"]
                query = urlencode({"code": code, "state": params["state"]})
                self.send_response(302)
                self.send_header("location", f"{params['redirect_uri']}?{query}")
                self.send_header("content-length", "0")
                self.end_headers()

            def _json(self, value: Any, status: int = 200) -> None:
                data = json.dumps(value).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "id_token_signing_alg_values_supported": ["RS256", "HS256"],
        }

    def sign(self, claims: dict[str, Any]) -> str:
        if self.alg == "HS256":
            return jwt.encode(claims, CLIENT_SECRET, algorithm="HS256", headers={"kid": self.kid})
        key = self.signing_key or self.key(self.kid)
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


def stub_login(vt: httpx.Client) -> httpx.Response:
    """Start SSO at vulntrail, let the stub answer at once, and follow the callback."""
    start = vt.get("/login/sso")
    assert start.status_code == 303, start.text
    answer = httpx.get(start.headers["location"], timeout=30)
    assert answer.status_code == 302
    return vt.get(answer.headers["location"])
