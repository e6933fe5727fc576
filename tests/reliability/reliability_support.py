"""Helpers of the reliability suite: whole-store fingerprints, rejection checks, big
reports built fast, SQLite lock holders, a throwaway PostgreSQL, the CLI in a process.

VULNTRAIL_LONG_TESTS=1 turns on the long versions (more kill -9 rounds, more fuzz
cases, the biggest reports on PostgreSQL too); `scaled(default, long)` picks the count.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

LONG = os.environ.get("VULNTRAIL_LONG_TESTS") == "1"
PG_BIN = Path(os.environ.get("VULNTRAIL_PG_BIN", "/usr/lib/postgresql/15/bin"))

# Columns that change on reads, not on writes: a token's last use.
VOLATILE_COLUMNS = {("api_tokens", "last_used")}


def scaled(default: int, long: int) -> int:
    """The count for this run: `long` under VULNTRAIL_LONG_TESTS=1."""
    return long if LONG else default


@dataclass
class Tally:
    """Figures for the closing note, printed at the end of each test that counts."""

    name: str
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, amount: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + amount

    def report(self) -> None:
        print(
            f"\n[reliability] {self.name}: " + ", ".join(f"{k}={v}" for k, v in self.counts.items())
        )


# --- the store -------------------------------------------------------------------


def schema_layout(database_url: str) -> dict[str, list[str]]:
    """Tables and their columns, as the store has them now."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            found = inspect(conn)
            return {t: [c["name"] for c in found.get_columns(t)] for t in found.get_table_names()}
    finally:
        engine.dispose()


def store_state(
    database_url: str,
    *,
    skip: tuple[str, ...] = (),
    layout: dict[str, list[str]] | None = None,
) -> dict[str, list[str]]:
    """Every row of every table (all of them, including alembic_version, the audit and
    event logs, unless skipped), sorted; bytes compared exactly. Equal states mean an
    unchanged store. `layout` limits it to those tables and columns (an older schema)."""
    layout = layout or schema_layout(database_url)
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            out: dict[str, list[str]] = {}
            for table in sorted(layout):
                if table in skip:
                    continue
                columns = [c for c in layout[table] if (table, c) not in VOLATILE_COLUMNS]
                quoted = ", ".join(f'"{c}"' for c in columns)
                rows = conn.execute(text(f'SELECT {quoted} FROM "{table}"')).all()
                out[table] = sorted(map(repr, map(tuple, rows)))
            return out
    finally:
        engine.dispose()


def state_digest(database_url: str) -> str:
    """A short fingerprint of store_state, for messages and for big stores."""
    state = store_state(database_url)
    digest = hashlib.sha256()
    for table, rows in state.items():
        digest.update(table.encode())
        for row in rows:
            digest.update(row.encode())
    return digest.hexdigest()[:16]


def count_rows(database_url: str, table: str) -> int:
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one())
    finally:
        engine.dispose()


def row_counts(database_url: str) -> dict[str, int]:
    """Rows per table, every table: a cheap check for stores too big to compare row by row."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            return {
                table: int(conn.execute(text(f'SELECT COUNT(*) FROM "{table}"')).scalar_one())
                for table in inspect(conn).get_table_names()
            }
    finally:
        engine.dispose()


def duplicate_identities(database_url: str) -> int:
    """Findings sharing (product, identity): invariant 7 says there are none."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            value = conn.execute(
                text(
                    "SELECT COUNT(*) FROM (SELECT product_id, identity FROM findings "
                    "GROUP BY product_id, identity HAVING COUNT(*) > 1) AS d"
                )
            ).scalar_one()
            return int(value)
    finally:
        engine.dispose()


# --- answers ---------------------------------------------------------------------


def problem_text(response: httpx.Response) -> str:
    """The JSON error body flattened to one lower-case string."""
    return json.dumps(response.json()).lower()


def rejection_problems(
    response: httpx.Response,
    names: tuple[str, ...],
    *,
    status: int | None = None,
    field: str | None = None,
) -> list[str]:
    """What is wrong with a rejection: not 4xx, not JSON, no error under `field` (DRF's
    `{"field": ["message"]}`), or a message naming none of `names`."""
    problems = []
    if not 400 <= response.status_code < 500 or (status and response.status_code != status):
        problems.append(f"status {response.status_code} (want {status or '4xx'})")
    if not response.headers.get("content-type", "").startswith("application/json"):
        problems.append(f"content-type {response.headers.get('content-type')!r}")
        return problems
    try:
        body = response.json()
    except ValueError:
        return [*problems, "body is not JSON"]
    if not isinstance(body, dict) or not body:
        problems.append(f"body {body!r} is not an error object")
    elif field is not None and not (isinstance(body.get(field), list) and body[field]):
        problems.append(f"no error under {field!r}: {body!r:.300}")
    flat = json.dumps(body).lower()
    if names and not any(name.lower() in flat for name in names):
        problems.append(f"body names none of {names}: {flat[:300]}")
    return problems


def serving(client: httpx.Client) -> bool:
    """The server answers /healthz on a new connection (an error may close the old one)."""
    try:
        return httpx.get(client.base_url.join("/healthz"), timeout=30).status_code == 200
    except httpx.HTTPError:
        return False


def post_import(
    client: httpx.Client,
    report: bytes | None,
    *,
    endpoint: str = "import-scan",
    filename: str = "trivy.json",
    **fields: str,
) -> httpx.Response:
    """The seed's import call with any fields; `report=None` sends no file at all."""
    data = {
        "scan_type": "Trivy Scan",
        "product_name": "reliability",
        "engagement_name": "CI-main-1",
        "auto_create_context": "true",
        **fields,
    }
    data = {k: v for k, v in data.items() if v is not None}
    files = {"file": (filename, report, "application/json")} if report is not None else None
    return client.post(f"/api/v2/{endpoint}/", data=data, files=files)


# --- reports ---------------------------------------------------------------------

_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
_VULN = (
    '{"VulnerabilityID":"CVE-2024-%d","PkgID":"pkg%d@1.%d.0","PkgName":"pkg%d",'
    '"InstalledVersion":"1.%d.0","FixedVersion":"9.0.0","Status":"fixed",'
    '"Severity":"%s","Title":"pkg%d: issue %d"%s}'
)


def compact_report(
    count: int, *, start: int = 0, tag: str = "1", description: str = "", version: int = 0
) -> bytes:
    """A SchemaVersion 2 image report of `count` OS-package findings, built by string
    formatting (a 200,000-finding report in well under a second). Findings are
    numbered from `start`; `version` changes every installed version."""
    extra = ',"Description":' + json.dumps(description) if description else ""
    items = [
        _VULN % (10**6 + n, n, version, n, version, _SEVERITIES[n % 5], n, n, extra)
        for n in range(start, start + count)
    ]
    artifact = f"registry.example.test/reliability:{tag}"
    target = json.dumps(f"{artifact} (debian 12.5)")
    head = (
        f'{{"SchemaVersion":2,"ArtifactName":{json.dumps(artifact)},'
        '"ArtifactType":"container_image","Metadata":{"OS":{"Family":"debian","Name":"12.5"}},'
        f'"Results":[{{"Target":{target},"Class":"os-pkgs","Type":"debian","Vulnerabilities":['
    )
    return (head + ",".join(items) + "]}]}").encode()


def report_document(count: int = 2, **kwargs: Any) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(compact_report(count, **kwargs))
    return document


def fill_store(client: httpx.Client) -> None:
    """A store with some of everything: two products, two branches, a re-import, triage."""
    for n in range(3):
        response = post_import(
            client, compact_report(40, start=n * 10, tag=str(n)), engagement_name=f"CI-main-{n + 1}"
        )
        assert response.status_code == 201, response.text[:300]
    feature = post_import(
        client, compact_report(45), engagement_name="CI-feature-9", branch_tag="feature"
    )
    assert feature.status_code == 201, feature.text[:300]
    other = post_import(
        client, compact_report(5, tag="x"), product_name="other", engagement_name="CI-main-1"
    )
    assert other.status_code == 201
    again = post_import(
        client,
        compact_report(30, start=20, tag="2"),
        endpoint="reimport-scan",
        engagement_name="CI-main-3",
    )
    assert again.status_code == 201, again.text[:300]
    finding = client.get("/api/v2/findings/", params={"limit": 1}).json()["results"][0]
    patched = client.patch(
        f"/api/v2/findings/{finding['id']}/",
        json={"risk_accepted": True, "risk_accepted_until": "2031-01-01"},
    )
    assert patched.status_code == 200, patched.text[:300]


# --- SQLite locks ----------------------------------------------------------------


@contextlib.contextmanager
def sqlite_lock_held(database_url: str, seconds: float) -> Iterator[None]:
    """Another connection holds SQLite's write lock (BEGIN IMMEDIATE and an uncommitted
    UPDATE) for `seconds`, from a thread."""
    path = make_url(database_url).database
    assert path
    taken = threading.Event()

    def hold() -> None:
        conn = sqlite3.connect(path, timeout=60, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("UPDATE product_types SET description = description")
            taken.set()
            time.sleep(seconds)
            conn.execute("ROLLBACK")
        finally:
            conn.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(30), "could not take the SQLite lock"
    try:
        yield
    finally:
        thread.join(seconds + 60)


# --- PostgreSQL ------------------------------------------------------------------


def libpq_url(database_url: str) -> str:
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


def database_name(database_url: str) -> str:
    name = make_url(database_url).database
    assert name
    return name


def terminate_backends(admin_url: str, database: str) -> int:
    """pg_terminate_backend every session of `database`: the connection drops mid-query."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def writing_backends(admin_url: str, database: str) -> int:
    """Sessions of `database` inside a transaction that has already written a row."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        value = conn.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = %s AND backend_xid IS NOT NULL",
            (database,),
        ).fetchone()
    return int(value[0]) if value else 0


class ThrowawayPostgres:
    """A PostgreSQL cluster of our own on a spare port, that a test may stop and start."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.data = root / "data"
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/vt"

    @staticmethod
    def problem() -> str | None:
        if not (PG_BIN / "initdb").exists():
            return f"no PostgreSQL server binaries in {PG_BIN}"
        if os.geteuid() == 0 and shutil.which("runuser") is None:
            return "running as root without runuser"
        return None

    def _run(self, *args: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    def init(self) -> ThrowawayPostgres:
        (self.root / "sock").mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.root / "sock", "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--no-locale",
        )  # fmt: skip
        self.start()
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute("CREATE DATABASE vt")
        return self

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root / 'sock'} -c fsync=off"
        )
        self._run(
            str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-w", "-o", options, "start",
        )  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def scratch_dir(prefix: str) -> Path:
    """A folder the postgres user can enter (pytest's tmp_path is private to root)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


# --- the command line ------------------------------------------------------------


def vulntrail_cli(
    database_url: str, *args: str, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """`vulntrail ARGS` in its own process, on the store at `database_url`."""
    env = {**os.environ, "VULNTRAIL_DATABASE_URL": database_url}
    env.pop("VULNTRAIL_BOOTSTRAP_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "vulntrail.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
