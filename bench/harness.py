"""What every scenario needs: databases, import calls, timings, row counts, results."""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, inspect, text

from bench.server import ROOT

sys.path.insert(0, str(ROOT / "tests"))
from conftest import PG_ADMIN_URL

RESULTS = ROOT / "bench" / "results"


@dataclass
class Result:
    """One line of the table: a figure next to its reference, and the verdict on its target."""

    scenario: str
    database: str
    figure: str  # e.g. "0.91 s"
    reference: str  # e.g. "json.loads 0.12 s"
    value: float  # what the target is checked on (a ratio, ms, rows, MB…)
    target: str  # e.g. "≤ 8x"; "" when there is none
    passed: bool | None  # None: reported only
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        return "INFO" if self.passed is None else ("PASS" if self.passed else "FAIL")

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "verdict": self.verdict}


@dataclass
class Context:
    quick: bool
    rebuild_store: bool
    databases: tuple[str, ...]
    workdir: Path


def log(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


# --- databases ----------------------------------------------------------------------------


@contextmanager
def database(kind: str, workdir: Path, name: str = "bench") -> Iterator[str]:
    """A fresh SQLite file or a fresh PostgreSQL database, dropped afterwards."""
    if kind == "sqlite":
        path = workdir / f"{name}-{uuid.uuid4().hex[:6]}.db"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    db = f"vt_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{db}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        yield f"{base}/{db}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')


def query(url: str, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(sql), params)]
    finally:
        engine.dispose()


def table_rows(url: str) -> dict[str, dict[Any, tuple[Any, ...]]]:
    """Every row of every table by primary key (first column): to count rows written."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            out = {}
            for table in sorted(inspect(conn).get_table_names()):
                if table == "alembic_version":
                    continue
                rows = conn.execute(text(f"SELECT * FROM {table}"))
                out[table] = {row[0]: tuple(row) for row in rows}
            return out
    finally:
        engine.dispose()


def rows_written(
    before: dict[str, dict[Any, tuple[Any, ...]]], after: dict[str, dict[Any, tuple[Any, ...]]]
) -> dict[str, int]:
    """Rows inserted, updated or deleted per table between two table_rows() reads."""
    written = {}
    for table in after:
        old, new = before.get(table, {}), after[table]
        count = sum(1 for key, row in new.items() if old.get(key) != row)
        count += sum(1 for key in old if key not in new)
        if count:
            written[table] = count
    return written


# --- HTTP ---------------------------------------------------------------------------------


def server_timing(response: httpx.Response) -> dict[str, float]:
    """`Server-Timing: receive;dur=1.2, app;dur=3.4` → {"receive": 1.2, "app": 3.4} (ms)."""
    out = {}
    for entry in response.headers.get("server-timing", "").split(","):
        name, _, rest = entry.strip().partition(";")
        if rest.startswith("dur="):
            out[name] = float(rest[4:])
    return out


def post_import(
    client: httpx.Client, body: bytes, product: str, engagement: str, **fields: str
) -> tuple[float, dict[str, float], dict[str, Any]]:
    """The seed's CI call; wall seconds, server timings (ms) and the 201 body."""
    started = time.perf_counter()
    response = client.post(
        "/api/v2/import-scan/",
        data={
            "scan_type": "Trivy Scan",
            "product_name": product,
            "engagement_name": engagement,
            "auto_create_context": "true",
            "branch_tag": "main",
            "commit_hash": uuid.uuid5(uuid.NAMESPACE_URL, product + engagement).hex[:12],
            **fields,
        },
        files={"file": ("trivy.json", body, "application/json")},
    )
    wall = time.perf_counter() - started
    if response.status_code != 201:
        raise RuntimeError(f"import failed: {response.status_code} {response.text[:300]}")
    return wall, server_timing(response), response.json()


# --- timing -------------------------------------------------------------------------------


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def best_of(action: Callable[[], object], repeat: int = 5) -> float:
    return min(timed(action) for _ in range(repeat))


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 2),
        "p95": round(percentile(values, 95), 2),
        "max": round(max(values), 2),
    }


def write_json(name: str, payload: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    return path
