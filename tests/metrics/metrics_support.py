"""Reading /metrics the way Prometheus does, and servers the tests start themselves."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import uvicorn
from prometheus_client.parser import text_string_to_metric_families

from conftest import TOKEN, free_port
from vulntrail.api.app import create_app
from vulntrail.config import Settings


def scrape(client: httpx.Client, **headers: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample of /metrics as (name, labels, value), parsed by prometheus_client."""
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return [
        (sample.name, dict(sample.labels), sample.value)
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def value(
    samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str
) -> float | None:
    """The value of the one sample with this name and these labels (None: no such sample)."""
    found = [
        v
        for n, have, v in samples
        if n == name and all(have.get(k) == w for k, w in labels.items())
    ]
    assert len(found) <= 1, f"{name}{labels} matches {len(found)} samples"
    return found[0] if found else None


class _Quiet(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


@contextmanager
def unmigrated_server(database_url: str) -> Iterator[str]:
    """A server that does not migrate its store at start (as `--workers` processes do)."""
    settings = Settings(database_url=database_url, bootstrap_token=TOKEN)
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, migrate_on_start=False), host="127.0.0.1", port=port, log_level="error"
    )
    server = _Quiet(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
