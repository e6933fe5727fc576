"""`vulntrail backup PATH` and `vulntrail restore PATH [--force]`.

The store is the one VULNTRAIL_DATABASE_URL names. SQLite stores are copied with
SQLite's online backup API (safe while the server runs); PostgreSQL stores with
`pg_dump --format=custom` / `pg_restore`, which must be installed. Stop the
servers before a restore. A restored store from an older vulntrail is brought to
the current schema by `vulntrail db upgrade` (or the next `vulntrail serve`).
"""

from __future__ import annotations

from pathlib import Path

import typer

from vulntrail.config import ConfigError, Settings
from vulntrail.store import backup as store_backup


def _database_url() -> str:
    try:
        return Settings.from_env().database_url
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def backup(
    path: Path = typer.Argument(..., help="File to write (replaced atomically if it exists)."),
) -> None:
    """Write a consistent backup of the whole store to PATH, even while servers run."""
    try:
        info = store_backup.backup(_database_url(), path)
    except store_backup.BackupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"backup of the {info.engine} store written to {info.path} "
        f"({info.size} bytes, schema revision {info.revision})",
        err=True,
    )


def restore(
    path: Path = typer.Argument(..., help="Backup file made by `vulntrail backup`."),
    force: bool = typer.Option(False, "--force", help="Replace a store that already holds data."),
) -> None:
    """Replace the store with the backup at PATH (refuses a non-empty store without --force)."""
    try:
        info = store_backup.restore(_database_url(), path, force=force)
    except store_backup.BackupError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(1) from None
    typer.echo(
        f"restored {info.path} (schema revision {info.revision}); run `vulntrail db upgrade` "
        "or start the server to bring it to this version's schema",
        err=True,
    )
