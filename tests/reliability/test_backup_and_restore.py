"""Issue #8 part 5: `vulntrail backup` / `vulntrail restore`, run as an operator runs them.

SQLite stores are copied with SQLite's online backup API, PostgreSQL stores with
pg_dump/pg_restore (custom format). A round trip loses nothing — every row of every
table, the audit and event logs and Alembic's revision included — and the restored
store keeps working (its id sequences continue). Backups taken while imports are
running are consistent. Restore refuses a store with data unless --force, and refuses
files that are not a backup of this engine or come from a newer schema.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest
from reliability_support import (
    compact_report,
    count_rows,
    duplicate_identities,
    fill_store,
    post_import,
    store_state,
    vulntrail_cli,
)
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from conftest import PG_ADMIN_URL, TOKEN, LiveServer, start_server
from vulntrail.cli import main
from vulntrail.config import Settings


@contextmanager
def another_store(database_url: str, tmp_path: Path, name: str) -> Iterator[str]:
    """An empty store of the same engine as `database_url`."""
    if database_url.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / f'{name}.db'}"
        return
    database = f"{make_url(database_url).database}_{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    try:
        yield make_url(database_url).set(database=database).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def cli(database_url: str, *args: str) -> tuple[int, str]:
    """The vulntrail command line in this process (Typer's runner): exit code and stderr."""
    result = CliRunner().invoke(main.app, list(args), env={"VULNTRAIL_DATABASE_URL": database_url})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stderr


def cli_ok(database_url: str, *args: str) -> str:
    code, stderr = cli(database_url, *args)
    assert code == 0, stderr[-2000:]
    return stderr


def test_round_trip_of_a_live_store_loses_nothing_and_the_copy_keeps_working(
    live_server: LiveServer, tmp_path: Path
) -> None:
    database_url = live_server.database_url
    with live_server.client() as client:
        fill_store(client)
    path = tmp_path / "vulntrail.backup"
    # As an operator runs it: its own process, while the server runs.
    backup = vulntrail_cli(database_url, "backup", str(path))
    assert backup.returncode == 0, backup.stderr[-2000:]
    original = store_state(database_url)
    with another_store(database_url, tmp_path, "restored") as target:
        restore = vulntrail_cli(target, "restore", str(path))
        assert restore.returncode == 0 and "restored" in restore.stderr, restore.stderr[-2000:]
        assert store_state(target) == original
        server, thread, url = start_server(Settings(database_url=target, bootstrap_token=TOKEN))
        try:
            with httpx.Client(
                base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=120
            ) as client:
                response = post_import(
                    client, compact_report(50, start=500, tag="9"), engagement_name="CI-main-10"
                )
                assert response.status_code == 201, response.text[:300]
                assert (
                    client.get("/api/v2/tests/").json()["count"]
                    == count_rows(database_url, "tests") + 1
                )
        finally:
            server.should_exit = True
            thread.join(30)


def test_backups_taken_during_imports_are_consistent(
    live_server: LiveServer, tmp_path: Path
) -> None:
    database_url = live_server.database_url
    done = threading.Event()
    answered: list[int] = []

    def keep_importing() -> None:
        with live_server.client() as client:
            for n in range(1, 40):
                if done.is_set():
                    return
                body = compact_report(600, start=n * 200, tag=str(n))
                response = post_import(client, body, engagement_name=f"CI-main-{n}")
                assert response.status_code == 201
                answered.append(n)

    worker = threading.Thread(target=keep_importing, daemon=True)
    worker.start()
    paths: list[Path] = []
    try:
        while len(paths) < 2:
            while len(answered) < 2 * (len(paths) + 1) and worker.is_alive():
                threading.Event().wait(0.02)
            path = tmp_path / f"during-{len(paths)}.backup"
            cli_ok(database_url, "backup", str(path))
            paths.append(path)
    finally:
        done.set()
        worker.join(120)
    for index, path in enumerate(paths):
        with another_store(database_url, tmp_path, f"during{index}") as target:
            cli_ok(target, "restore", str(path))
            assert count_rows(target, "tests") >= 2 * (index + 1)
            assert duplicate_identities(target) == 0
            if target.startswith("sqlite"):
                with sqlite3.connect(make_url(target).database or "") as conn:
                    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
                    assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
            server, thread, url = start_server(Settings(database_url=target, bootstrap_token=TOKEN))
            try:
                with httpx.Client(
                    base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=120
                ) as client:
                    # Each test in the copy is whole: its findings are all there.
                    for test in client.get("/api/v2/tests/", params={"limit": 100}).json()[
                        "results"
                    ]:
                        assert test["finding_count"] == 600
                        assert test["statistics"]["after"]["total"]["total"] == 600
                    follow = post_import(
                        client,
                        compact_report(600, start=10**5, tag="next"),
                        engagement_name="CI-main-1000",
                    )
                    assert follow.status_code == 201, follow.text[:300]
            finally:
                server.should_exit = True
                thread.join(30)


def test_restore_refuses_a_store_with_data_unless_forced(
    live_server: LiveServer, tmp_path: Path
) -> None:
    database_url = live_server.database_url
    with live_server.client() as client:
        fill_store(client)
        path = tmp_path / "before.backup"
        cli_ok(database_url, "backup", str(path))
        saved = store_state(database_url)
        extra = post_import(
            client, compact_report(10, start=900, tag="late"), engagement_name="CI-main-77"
        )
        assert extra.status_code == 201
    changed = store_state(database_url)
    code, stderr = cli(database_url, "restore", str(path))
    assert code == 1
    assert "not empty" in stderr and "--force" in stderr
    assert store_state(database_url) == changed
    cli_ok(database_url, "restore", str(path), "--force")
    assert store_state(database_url) == saved


def test_restore_refuses_files_that_are_not_a_backup_for_this_store(
    database_url: str, tmp_path: Path
) -> None:
    with another_store(database_url, tmp_path, "empty") as target:
        cli_ok(target, "db", "upgrade")
        before = store_state(target)
        not_a_backup = tmp_path / "notes.txt"
        not_a_backup.write_text("hello")
        cases: dict[str, tuple[Path, str]] = {
            "not a backup": (not_a_backup, "not a vulntrail backup")
        }
        cases["missing"] = (tmp_path / "nothing-here.backup", "no backup file")
        fake_dump = tmp_path / "fake.dump"
        fake_dump.write_bytes(b"PGDMP" + bytes(100))
        if target.startswith("sqlite"):
            cases["a pg_dump archive"] = (fake_dump, "engine it was made from")
            # A backup made by a newer vulntrail: an Alembic revision this version does not know.
            newer = tmp_path / "newer.backup"
            cli_ok(target, "backup", str(newer))
            with sqlite3.connect(newer) as conn:
                conn.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
            cases["newer schema"] = (newer, "newer vulntrail")
            plain = tmp_path / "plain.sqlite"
            with sqlite3.connect(plain) as conn:
                conn.execute("CREATE TABLE t (x)")
            cases["an SQLite file of something else"] = (plain, "not a vulntrail store")
        else:
            other_url = f"sqlite:///{tmp_path / 'other.db'}"
            cli_ok(other_url, "db", "upgrade")
            cli_ok(other_url, "backup", str(tmp_path / "sqlite.backup"))
            cases["an SQLite backup"] = (tmp_path / "sqlite.backup", "engine it was made from")
            cases["a damaged archive"] = (fake_dump, "pg_restore failed")
        for name, (path, words) in cases.items():
            code, stderr = cli(target, "restore", str(path), "--force")
            assert code == 1, name
            assert words in stderr, f"{name}: {stderr[-500:]}"
            assert store_state(target) == before, name


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_backup_refuses_to_write_over_the_store_itself(database_url: str, tmp_path: Path) -> None:
    cli_ok(database_url, "db", "upgrade")
    before = store_state(database_url)
    code, stderr = cli(database_url, "backup", make_url(database_url).database or "")
    assert code == 1 and "the store itself" in stderr
    assert store_state(database_url) == before
