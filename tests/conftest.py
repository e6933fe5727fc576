"""Shared test fixtures: real databases (SQLite file and PostgreSQL) and a real HTTP server.

PostgreSQL: each test gets its own freshly created database on the server at
VULNTRAIL_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test). When that
server is unreachable the PostgreSQL half is skipped with a loud reason, unless
VULNTRAIL_REQUIRE_POSTGRES=1 (CI sets it), which turns the skip into a failure.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
import uvicorn

from vulntrail.api.app import create_app
from vulntrail.config import Settings

REPO = Path(__file__).resolve().parents[1]
CORPUS = Path(os.environ.get("VULNTRAIL_CORPUS", REPO.parent / "shared" / "corpus" / "trivy"))
PG_ADMIN_URL = os.environ.get("VULNTRAIL_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "vtr_test-bootstrap-token-0123456789abcdefghij"


def _pg_problem() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as error:
        return f"{type(error).__name__}: {error}"
    return None


@pytest.fixture(scope="session")
def pg_available() -> bool:
    problem = _pg_problem()
    if problem is None:
        return True
    message = f"PostgreSQL at {PG_ADMIN_URL} is not reachable ({problem})"
    if os.environ.get("VULNTRAIL_REQUIRE_POSTGRES") == "1":
        pytest.fail(message + " and VULNTRAIL_REQUIRE_POSTGRES=1", pytrace=False)
    print(f"\n*** SKIPPING POSTGRESQL TESTS: {message} ***\n")
    return False


def _fresh_pg_database() -> Iterator[str]:
    name = f"vt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base.replace('postgresql://', 'postgresql+psycopg://', 1)}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test runs once on an SQLite file and once on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'vulntrail.db'}"
        return
    if not request.getfixturevalue("pg_available"):
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is not reachable")
    yield from _fresh_pg_database()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str
    database_url: str
    settings: Settings

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)


class _ThreadServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the test process keeps its own handlers
        pass


def start_server(settings: Settings) -> tuple[_ThreadServer, threading.Thread, str]:
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = _ThreadServer(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.02)
    return server, thread, f"http://127.0.0.1:{port}"


@pytest.fixture
def live_server(database_url: str) -> Iterator[LiveServer]:
    """A real vulntrail server on loopback, over the test's database, with an admin token."""
    settings = Settings(database_url=database_url, bootstrap_token=TOKEN)
    server, thread, url = start_server(settings)
    try:
        yield LiveServer(url, database_url, settings)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture
def api(live_server: LiveServer) -> Iterator[httpx.Client]:
    with live_server.client() as client:
        yield client


def corpus_file(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


class ServerProcess:
    """`vulntrail serve` in its own process group, for tests that kill or scale it."""

    def __init__(self, database_url: str, *, workers: int = 1) -> None:
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> ServerProcess:
        env = {
            **os.environ,
            "VULNTRAIL_DATABASE_URL": self.database_url,
            "VULNTRAIL_BOOTSTRAP_TOKEN": TOKEN,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "vulntrail.cli.main",
                "serve",
                "--port",
                str(self.port),
                "--workers",
                str(self.workers),
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not answer /healthz in time")

    def kill(self) -> None:
        """kill -9 of the whole process group: no cleanup, no graceful shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Token {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=120)
