"""Helpers for the import-client tests: a clean CI environment, the CLI, a scripted HTTP peer.

Not a conftest.py on purpose: a second `conftest` module would shadow tests/conftest.py
for `from conftest import …` (the test tree has no packages).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner

from vulntrail.cli.main import app

# Everything the client reads from the environment, so the host's CI or Vault
# settings never leak into a test.
CLIENT_VARS_PREFIXES = ("CI_", "GITLAB_", "GITHUB_", "ACTIONS_", "VAULT_", "BAO_")
CLIENT_VARS = (
    "CI",
    "VULNTRAIL_URL",
    "VULNTRAIL_TOKEN",
    "VULNTRAIL_PRODUCT_PREFIX",
    "VULNTRAIL_OIDC_TOKEN_VAR",
    "VULNTRAIL_JWT_AUDIENCE",
    "VULNTRAIL_FAIL_ON",
)


def isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name in CLIENT_VARS or name.startswith(CLIENT_VARS_PREFIXES):
            monkeypatch.delenv(name)


def gitlab_vars(
    *, project: str = "server", branch: str = "main", pipeline: int = 1001, sha: str = "abc12345"
) -> dict[str, str]:
    """What GitLab sets in a main-branch pipeline job (the subset the seed uses)."""
    return {
        "GITLAB_CI": "true",
        "CI": "true",
        "CI_PROJECT_NAME": project,
        "CI_PROJECT_PATH": f"sec/{project}",
        "CI_COMMIT_BRANCH": branch,
        "CI_COMMIT_REF_NAME": branch,
        "CI_DEFAULT_BRANCH": "main",
        "CI_PIPELINE_ID": str(pipeline),
        "CI_COMMIT_SHORT_SHA": sha,
        "CI_COMMIT_SHA": sha + "0" * 32,
    }


@dataclass
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_import(args: list[str], env: Mapping[str, str]) -> Run:
    """`vulntrail import ARGS` in this process, with `env` added to the environment."""
    result = CliRunner(env=dict(env)).invoke(app, ["import", *args], catch_exceptions=False)
    return Run(result.exit_code, result.stdout, result.stderr)


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


class StubServer:
    """A real HTTP peer on loopback that answers POSTs from a script, GETs by path.

    An unknown GET gets a 404, which is what a DefectDojo server answers for
    vulntrail's per-run view, so a stub run also covers the DefectDojo fallback.
    """

    def __init__(self, script: list[Reply], gets: dict[str, Reply] | None = None) -> None:
        self.script = list(script)
        self.gets = gets or {}
        self.seen: list[Seen] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, reply: Reply) -> None:
                data = json.dumps(reply.body).encode() if reply.body is not None else b""
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                stub.seen.append(Seen(self.command, self.path, dict(self.headers), body))

            def do_POST(self) -> None:
                self._record()
                reply = stub.script.pop(0) if stub.script else Reply(500, {"detail": "no script"})
                self._answer(reply)

            def do_GET(self) -> None:
                self._record()
                path = self.path.split("?", 1)[0]
                self._answer(stub.gets.get(path, Reply(404, {"detail": "Not found."})))

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        self.thread = threading.Thread(
            target=self.http.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def __enter__(self) -> StubServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.shutdown()
        self.http.server_close()

    @property
    def posts(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST"]


def created_body(*, critical_created: int = 0, engagement_id: int = 7) -> dict[str, Any]:
    """A DefectDojo-shaped 201 answer of import-scan."""

    def table(critical: int) -> dict[str, dict[str, int]]:
        keys = ("info", "low", "medium", "high", "critical", "total")
        return {
            k: {"active": critical if k in ("critical", "total") else 0, "total": 0} for k in keys
        }

    return {
        "test": 11,
        "engagement_id": engagement_id,
        "product_id": 3,
        "statistics": {
            "before": table(0),
            "delta": {
                "created": table(critical_created),
                "closed": table(0),
                "reactivated": table(0),
                "untouched": table(0),
            },
            "after": table(critical_created),
        },
    }
