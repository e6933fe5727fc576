"""A real HTTP receiver on loopback, servers with notification settings, and small helpers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from sqlalchemy import create_engine

from conftest import TOKEN, LiveServer, start_server
from vulntrail.auth import tokens, users
from vulntrail.auth.roles import Grant, Role
from vulntrail.config import Settings
from vulntrail.store.db import Sessions

SECRET = "webhook-secret-0123456789"
# A worker that polls often and retries fast, so the tests take seconds.
FAST = {
    "notify_poll_seconds": 0.1,
    "notify_backoff_seconds": 0.2,
    "notify_watch_seconds": 0.3,
    "notify_timeout_seconds": 5.0,
}
FAST_ENV = {
    "VULNTRAIL_NOTIFY_POLL_SECONDS": "0.1",
    "VULNTRAIL_NOTIFY_BACKOFF_SECONDS": "0.2",
    "VULNTRAIL_NOTIFY_WATCH_SECONDS": "0.3",
}


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """Answers 500 to the first `fail_first` requests, then 200; `hang` blocks answers
    until it is set. Every request is recorded with what it was answered."""

    fail_first: int = 0
    port: int = 0
    hang: threading.Event | None = None
    requests: list[Received] = field(default_factory=list)
    arrived: int = 0  # requests received, answered or not yet
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                with receiver._lock:
                    receiver.arrived += 1
                if receiver.hang is not None:
                    receiver.hang.wait(60)
                with receiver._lock:
                    status = 500 if len(receiver.requests) < receiver.fail_first else 200
                    receiver.requests.append(
                        Received(
                            self.path, {k.lower(): v for k, v in self.headers.items()}, body, status
                        )
                    )
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self.hang is not None:
            self.hang.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def delivered(self) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def wait_for(self, count: int, *, timeout: float = 15) -> list[Received]:
        """Wait until `count` requests were answered 200; then a moment for any extra."""
        wait_until(lambda: len(self.delivered()) >= count, timeout=timeout)
        time.sleep(0.5)
        return self.delivered()


@contextmanager
def receiver(fail_first: int = 0, **options: Any) -> Iterator[Receiver]:
    running = Receiver(fail_first=fail_first, **options).start()
    try:
        yield running
    finally:
        running.close()


def wait_until(condition: Callable[[], Any], *, timeout: float = 15, step: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(step)


@contextmanager
def server(database_url: str, **settings: Any) -> Iterator[LiveServer]:
    """A live server with a fast notification worker (and any other Settings fields)."""
    values = Settings(database_url=database_url, bootstrap_token=TOKEN)
    values = replace(values, **{**FAST, **settings})
    uvicorn_server, thread, url = start_server(values)
    try:
        yield LiveServer(url, database_url, values)
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=30)


def add_target(client: httpx.Client, url: str, **fields: Any) -> dict[str, Any]:
    body = {"kind": "webhook", "url": url, "secret": SECRET, **fields}
    if body["kind"] != "webhook":
        body.pop("secret")
    response = client.post("/api/v2/notification_targets/", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def outbox(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/v2/outbox/", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return list(response.json()["results"])


def make_token(database_url: str, username: str, role: str, products: str) -> str:
    """A user with `role` on the products matching `products`, and a token for it."""
    engine = create_engine(database_url)
    secret = tokens.new_token()
    with Sessions(engine).write() as session:
        user = users.create_user(session, username, None, admin=False)
        users.grant_role(session, user, Grant(Role(role), products))
        tokens.store_token(session, user, secret, name="test")
    engine.dispose()
    return secret
