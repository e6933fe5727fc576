"""The command line of DESIGN.md, run as a user runs it: in a real process."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, inspect, text

from conftest import ServerProcess
from reports import Report, Vuln, import_scan


def vulntrail(
    database_url: str, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "VULNTRAIL_DATABASE_URL": database_url, **(extra_env or {})}
    env.pop("VULNTRAIL_BOOTSTRAP_TOKEN", None)
    return subprocess.run(
        [sys.executable, "-m", "vulntrail.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_upgrade_builds_the_schema(database_url):
    result = vulntrail(database_url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    engine = create_engine(database_url)
    tables = set(inspect(engine).get_table_names())
    engine.dispose()
    assert {"findings", "spans", "occurrences", "engagements", "tests", "alembic_version"} <= tables
    assert vulntrail(database_url, "db", "upgrade").returncode == 0  # idempotent


def test_token_create_prints_the_token_alone_and_it_works(database_url):
    assert vulntrail(database_url, "user", "create", "ci-bot").returncode == 0
    result = vulntrail(
        database_url, "token", "create", "--user", "ci-bot", "--name", "gitlab", "--expires", "90d"
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert result.stdout == token + "\n" and token.startswith("vtr_")
    engine = create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(text("SELECT token_hash FROM api_tokens")).scalars().all()
    engine.dispose()
    assert token not in stored and len(stored) == 1  # only its hash is kept
    server = ServerProcess(database_url).start()
    try:
        assert (
            httpx.get(
                server.url + "/api/v2/products/", headers={"Authorization": f"Token {token}"}
            ).status_code
            == 200
        )
    finally:
        server.stop()
    missing = vulntrail(database_url, "token", "create", "--user", "nobody")
    assert missing.returncode == 1 and "nobody" in missing.stderr and missing.stdout == ""


def test_first_start_prints_the_admin_login_once(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "VULNTRAIL_DATABASE_URL": url}
    env.pop("VULNTRAIL_BOOTSTRAP_TOKEN", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "vulntrail.cli.main", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    lines = []
    assert process.stderr is not None
    for line in process.stderr:
        lines.append(line)
        if "listening on" in line:
            break
    process.terminate()
    process.wait(timeout=30)
    output = "".join(lines)
    assert "username: admin" in output and "password: " in output
    token = next(line.split(": ", 1)[1].strip() for line in lines if "API token:" in line)
    assert token.startswith("vtr_")
    assert "VULNTRAIL" not in output or "password" not in output.split("VULNTRAIL")[0][-5:]


def _import_from_own_process(args: tuple[str, str, int]) -> int:
    url, product, number = args
    vulns = [Vuln(f"CVE-2022-{i:05d}", f"pkg{i}") for i in range(300)]
    with httpx.Client(
        base_url=url,
        headers={"Authorization": "Token vtr_test-bootstrap-token-0123456789abcdefghij"},
        timeout=120,
    ) as client:
        return import_scan(
            client,
            Report(f"app:{number}", vulns).to_json(),
            product=product,
            engagement=f"CI-main-{number}",
        ).status_code


def test_two_server_processes_over_one_database_import_concurrently_without_duplicates(
    database_url,
):
    # On SQLite the writers take turns; every request must still succeed.
    server = ServerProcess(database_url, workers=2).start()
    try:
        jobs = [(server.url, f"svc-{n % 2}", n) for n in range(1, 9)]
        with ProcessPoolExecutor(max_workers=8) as pool:
            codes = list(pool.map(_import_from_own_process, jobs))
        assert codes == [201] * len(jobs)
        engine = create_engine(database_url)
        with engine.connect() as conn:
            per_product = conn.execute(
                text("SELECT product_id, COUNT(*) FROM findings GROUP BY product_id")
            ).all()
        engine.dispose()
        assert sorted(count for _, count in per_product) == [300, 300]
    finally:
        server.stop()


@pytest.mark.parametrize("bad", ["mysql://x", "sqlite", "not a url"])
def test_bad_database_url_is_named_in_the_error(bad):
    result = vulntrail(bad, "db", "upgrade")
    assert result.returncode == 2
    assert "VULNTRAIL_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr
