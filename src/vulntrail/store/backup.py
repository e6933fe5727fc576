"""Online backup and restore of the whole store, for both engines.

SQLite: the backup is one SQLite file made with SQLite's online backup API in a
single step, so it is a consistent snapshot even while a server is writing (in
WAL mode readers never block writers). It is written to a temporary file next to
PATH, checked with `PRAGMA integrity_check`, and moved into place atomically.

PostgreSQL: the backup is a `pg_dump --format=custom` archive, the layout
`pg_restore` reads, so the native tools work on it too
(`pg_restore --list PATH`, restoring one table, …). pg_dump reads from one MVCC
snapshot, so it is consistent while servers are writing. The password travels in
PGPASSWORD, never on a command line.

Restore refuses a store that holds any row unless `force` is given, checks the
backup before touching the store, and replaces the store in one transaction: on
SQLite the backup API copies every page under one write lock; on PostgreSQL the
archive is turned into SQL by pg_restore and applied by `psql --single-transaction`
together with the removal of the tables it replaces. A backup made by a newer
vulntrail (an Alembic revision this version does not know) is refused.

A backup restores into the engine it was made from; moving a store between SQLite
and PostgreSQL is not supported.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.engine import URL, make_url

from vulntrail.store import migrate

SQLITE_MAGIC = b"SQLite format 3\x00"
PG_CUSTOM_MAGIC = b"PGDMP"
_VERSION_TABLE = "alembic_version"


class BackupError(Exception):
    """The backup or restore cannot be done; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """What a backup file holds."""

    path: Path
    engine: str  # "sqlite" or "postgresql"
    size: int
    revision: str | None


def backup(database_url: str, path: Path) -> BackupInfo:
    """Write a consistent copy of the store at `database_url` to `path` (replaced atomically)."""
    url = make_url(database_url)
    path = path.expanduser().resolve()
    if not path.parent.is_dir():
        raise BackupError(f"cannot write {path}: the folder {path.parent} does not exist")
    if url.get_backend_name() == "sqlite":
        return _sqlite_backup(_sqlite_path(url), path)
    return _pg_backup(url, path)


def restore(database_url: str, path: Path, *, force: bool = False) -> BackupInfo:
    """Replace the store at `database_url` with the backup at `path`.

    Refuses a store that holds data unless `force`; the backup is checked first.
    """
    url = make_url(database_url)
    path = path.expanduser().resolve()
    engine_name = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
    made_by = _engine_of(path)
    if made_by != engine_name:
        raise BackupError(
            f"{path} is a {made_by} backup but the store is {engine_name}; a backup "
            "restores into the engine it was made from"
        )
    info = inspect_backup(path)
    _require_known_revision(info)
    if engine_name == "sqlite":
        _sqlite_restore(path, _sqlite_path(url), force=force)
    else:
        _pg_restore(path, url, force=force)
    return info


def inspect_backup(path: Path) -> BackupInfo:
    """Recognize a backup file by its first bytes and read its schema revision."""
    engine = _engine_of(path)
    size = path.stat().st_size
    if engine == "sqlite":
        return BackupInfo(path, engine, size, _sqlite_backup_revision(path))
    return BackupInfo(path, engine, size, _pg_archive_revision(path))


def _engine_of(path: Path) -> str:
    if not path.is_file():
        raise BackupError(f"no backup file at {path}")
    with path.open("rb") as handle:
        head = handle.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PG_CUSTOM_MAGIC):
        return "postgresql"
    raise BackupError(
        f"{path} is not a vulntrail backup: neither an SQLite file nor a pg_dump custom archive"
    )


def holds_data(engine: Engine) -> dict[str, int]:
    """Tables of the store that hold rows (at most one counted each); empty when none do."""
    names = [n for n in inspect(engine).get_table_names() if n != _VERSION_TABLE]
    found: dict[str, int] = {}
    with engine.connect() as connection:
        for name in names:
            quoted = engine.dialect.identifier_preparer.quote(name)
            if connection.execute(text(f"SELECT 1 FROM {quoted} LIMIT 1")).first():
                found[name] = 1
    return found


# --- SQLite ----------------------------------------------------------------------


def _sqlite_path(url: URL) -> Path:
    database = url.database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite store has nothing to back up or restore into")
    return Path(database).expanduser().resolve()


def _sqlite_backup(source: Path, path: Path) -> BackupInfo:
    if not source.is_file():
        raise BackupError(f"no SQLite store at {source}")
    if path == source:
        raise BackupError(f"{path} is the store itself; choose another file for the backup")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        with (
            contextlib.closing(sqlite3.connect(source, timeout=30)) as src,
            contextlib.closing(sqlite3.connect(temporary)) as dst,
        ):
            # One step: the copy is a snapshot of a single read transaction.
            src.backup(dst, pages=-1)
            dst.execute("PRAGMA journal_mode=DELETE")
            _check_integrity(dst, temporary)
        os.replace(temporary, path)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite backup of {source} failed: {error}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_dir(path.parent)
    return BackupInfo(path, "sqlite", path.stat().st_size, _sqlite_backup_revision(path))


def _sqlite_restore(path: Path, target: Path, *, force: bool) -> None:
    if target == path:
        raise BackupError(f"{path} is the store itself")
    if not target.parent.is_dir():
        raise BackupError(f"cannot restore into {target}: the folder does not exist")
    if target.exists():
        _refuse_if_holds_data(f"sqlite:///{target}", force=force)
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as src:
            _check_integrity(src, str(path))
            with contextlib.closing(sqlite3.connect(target, timeout=30)) as dst:
                # Every page is copied under one write lock, committed at the end or not at all.
                src.backup(dst, pages=-1)
                dst.execute("PRAGMA journal_mode=WAL")
                _check_integrity(dst, str(target))
    except sqlite3.Error as error:
        raise BackupError(f"restoring {path} into {target} failed: {error}") from None


def _check_integrity(connection: sqlite3.Connection, where: str) -> None:
    verdict = connection.execute("PRAGMA integrity_check").fetchone()
    if verdict is None or verdict[0] != "ok":
        raise BackupError(f"{where} failed SQLite's integrity check: {verdict}")


def _sqlite_backup_revision(path: Path) -> str | None:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
            if _VERSION_TABLE not in tables:
                raise BackupError(f"{path} is an SQLite file but not a vulntrail store")
            row = conn.execute(f"SELECT version_num FROM {_VERSION_TABLE}").fetchone()
    except sqlite3.DatabaseError as error:
        raise BackupError(f"{path} cannot be read as an SQLite file: {error}") from None
    return str(row[0]) if row else None


def _fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


# --- PostgreSQL ------------------------------------------------------------------


def _pg_backup(url: URL, path: Path) -> BackupInfo:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(handle)
    try:
        _run(
            [
                _tool("pg_dump"),
                "--format=custom",
                "--no-owner",
                "--no-privileges",
                f"--file={temporary}",
                f"--dbname={_libpq_url(url)}",
            ],
            url,
            what="pg_dump",
        )
        revision = _pg_archive_revision(Path(temporary))
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    _fsync_dir(path.parent)
    return BackupInfo(path, "postgresql", path.stat().st_size, revision)


def _pg_restore(path: Path, url: URL, *, force: bool) -> None:
    existing = _refuse_if_holds_data(url.render_as_string(hide_password=False), force=force)
    drops = [f'DROP TABLE IF EXISTS "{name}" CASCADE;' for name in existing]
    script = subprocess.Popen(
        [_tool("pg_restore"), "--no-owner", "--no-privileges", "--file=-", str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        apply = [_tool("psql"), "-X", "-q", "--single-transaction", "-v", "ON_ERROR_STOP=1"]
        apply += ["-c", " ".join(drops)] if drops else []
        apply += ["-f", "-", f"--dbname={_libpq_url(url)}"]
        _run(apply, url, what="psql", stdin=script.stdout)
    finally:
        if script.stdout is not None:
            script.stdout.close()
        _, error = script.communicate()
    if script.returncode != 0:
        raise BackupError(f"pg_restore failed: {error.decode(errors='replace').strip()}")


def _pg_archive_revision(path: Path) -> str | None:
    """The Alembic revision stored in a custom archive (its alembic_version data)."""
    listing = _run([_tool("pg_restore"), "--list", str(path)], None, what="pg_restore")
    if f"TABLE DATA public {_VERSION_TABLE}" not in listing:
        raise BackupError(f"{path} is a pg_dump archive but not of a vulntrail store")
    sql = _run(
        [_tool("pg_restore"), "--data-only", f"--table={_VERSION_TABLE}", "--file=-", str(path)],
        None,
        what="pg_restore",
    )
    lines = sql.splitlines()
    for index, line in enumerate(lines):
        if line.startswith(f"COPY public.{_VERSION_TABLE} ") and index + 1 < len(lines):
            value = lines[index + 1].strip()
            return None if value == "\\." else value
    return None


def _libpq_url(url: URL) -> str:
    """The URL libpq tools accept: no SQLAlchemy driver suffix, no password."""
    plain = url.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False)


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(
            f"{name} is not installed: install the PostgreSQL client tools "
            "(the server's major version or newer), e.g. apt-get install postgresql-client"
        )
    return found


def _run(command: list[str], url: URL | None, *, what: str, stdin: object | None = None) -> str:
    env = dict(os.environ)
    if url is not None and url.password is not None:
        env["PGPASSWORD"] = str(url.password)
    result = subprocess.run(
        command,
        env=env,
        stdin=stdin,  # type: ignore[arg-type]
        capture_output=True,
        check=False,
    )
    if result.returncode != 0:
        raise BackupError(f"{what} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout.decode(errors="replace")


# --- both ------------------------------------------------------------------------


def _refuse_if_holds_data(database_url: str, *, force: bool) -> list[str]:
    """The store's tables; raises when it holds rows and `force` is not given."""
    engine = create_engine(database_url)
    try:
        tables = list(inspect(engine).get_table_names())
        occupied = holds_data(engine)
    finally:
        engine.dispose()
    if occupied and not force:
        raise BackupError(
            "the store is not empty (rows in " + ", ".join(sorted(occupied)) + "); restore into "
            "an empty store, or pass --force to replace its whole content"
        )
    return tables


def _require_known_revision(info: BackupInfo) -> None:
    if info.revision is None:
        return
    scripts = ScriptDirectory(str(migrate.MIGRATIONS))
    known = {revision.revision for revision in scripts.walk_revisions()}
    if info.revision not in known:
        raise BackupError(
            f"{info.path} was made by a newer vulntrail (schema revision {info.revision}); "
            "restore it with that version or newer"
        )
