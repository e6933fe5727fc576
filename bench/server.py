"""The vulntrail server under test, in its own process group, as CI and users run it.

`vulntrail serve` is started as is when its application reports `Server-Timing` on every
response (vulntrail.api.timing installed in api/app.py). Until then the same server is
started through `python -m bench.server`, which is `vulntrail serve` with the timing
middleware wrapped around the application, so that server time can still be read.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from functools import cache
from pathlib import Path

import httpx
import uvicorn
from starlette.types import ASGIApp

from vulntrail.api.app import create_app, create_app_from_env, prepare_store
from vulntrail.api.timing import ServerTiming
from vulntrail.config import Settings
from vulntrail.store.db import Sessions, make_engine

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import TOKEN, free_port  # noqa: E402


@cache
def timing_built_in() -> bool:
    """True when api/app.py installs ServerTiming itself."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/probe.db"
        app = create_app(Settings(database_url=url), migrate_on_start=False)
        return any(middleware.cls is ServerTiming for middleware in app.user_middleware)


class Server:
    """`vulntrail serve --workers N` over `database_url`, with the bench's admin token."""

    def __init__(self, database_url: str, *, workers: int = 1) -> None:
        self.database_url = database_url
        self.workers = workers
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self) -> Server:
        env = {
            **os.environ,
            "VULNTRAIL_DATABASE_URL": self.database_url,
            "VULNTRAIL_BOOTSTRAP_TOKEN": TOKEN,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        }
        module = ["vulntrail.cli.main", "serve"] if timing_built_in() else ["bench.server"]
        command = [
            sys.executable,
            "-m",
            *module,
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.process.stderr.read().decode()[-2000:] if self.process.stderr else ""
                raise RuntimeError(f"server exited: {error}")
            try:
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("server did not answer /healthz in time")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def client(self, timeout: float = 600) -> httpx.Client:
        return client_for(self.url, timeout)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def client_for(url: str, timeout: float = 600) -> httpx.Client:
    """An API client with the bench's admin token."""
    return httpx.Client(base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=timeout)


def memory_kb(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (peak) of a process, in kB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return fields


def create_timed_app_from_env() -> ASGIApp:
    """uvicorn --factory entry of each worker process (the parent already migrated)."""
    return ServerTiming(create_app_from_env())


def _serve(port: int, workers: int) -> None:
    """`vulntrail serve` (vulntrail.cli.main.serve), with Server-Timing wrapped around."""
    settings = Settings.from_env()
    sessions = Sessions(make_engine(settings.database_url, pool_size=2))
    prepare_store(settings, sessions)
    sessions.engine.dispose()
    if workers == 1:
        app = ServerTiming(create_app(settings, migrate_on_start=False))
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
    else:
        uvicorn.run(
            "bench.server:create_timed_app_from_env",
            factory=True,
            host="127.0.0.1",
            port=port,
            workers=workers,
            log_level="warning",
        )


if __name__ == "__main__":
    _serve(
        int(sys.argv[sys.argv.index("--port") + 1]), int(sys.argv[sys.argv.index("--workers") + 1])
    )
