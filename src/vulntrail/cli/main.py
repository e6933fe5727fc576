"""`vulntrail serve | db upgrade | user create | token create`."""

from __future__ import annotations

import sys
from datetime import timedelta

import typer
import uvicorn
from sqlalchemy import select

from vulntrail import clock
from vulntrail.api.app import create_app, prepare_store
from vulntrail.auth import tokens, users
from vulntrail.auth.roles import Grant, RoleError, parse_pattern, parse_role
from vulntrail.cli import backup_command, import_command
from vulntrail.config import ConfigError, Settings
from vulntrail.errors import VulntrailError
from vulntrail.store import audit, migrate
from vulntrail.store.db import Sessions, make_engine
from vulntrail.store.models import User

app = typer.Typer(
    help="vulntrail: container-vulnerability trails with a DefectDojo-compatible API.",
    no_args_is_help=True,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
user_app = typer.Typer(help="Local users.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(user_app, name="user")
app.add_typer(token_app, name="token")
app.command("import")(import_command.import_report)
app.command("backup")(backup_command.backup)
app.command("restore")(backup_command.restore)


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ConfigError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None


def _sessions(settings: Settings) -> Sessions:
    return Sessions(make_engine(settings.database_url, pool_size=2))


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, help="Server processes (use PostgreSQL beyond 1 for scale)."
    ),
) -> None:
    """Migrate the store if needed and serve the web API."""
    settings = _settings()
    sessions = _sessions(settings)
    first = prepare_store(settings, sessions)
    sessions.engine.dispose()
    if first is not None:
        typer.echo(
            "\n  First start: created the admin user.\n"
            f"    username: {first.username}\n    password: {first.password}\n"
            f"    API token: {first.token}\n"
            "  Shown once; keep them. Use them as 'Authorization: Token <token>'.\n",
            err=True,
        )
    typer.echo(
        f"vulntrail listening on http://{host}:{port} (database: {_safe_url(settings)})", err=True
    )
    if workers == 1:
        uvicorn.run(
            create_app(settings, migrate_on_start=False), host=host, port=port, log_level="info"
        )
    else:
        uvicorn.run(
            "vulntrail.api.app:create_app_from_env",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_level="info",
        )


def _safe_url(settings: Settings) -> str:
    """The database URL without its password, for logs."""
    from sqlalchemy.engine import make_url

    return make_url(settings.database_url).render_as_string(hide_password=True)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply all pending schema migrations."""
    settings = _settings()
    engine = make_engine(settings.database_url, pool_size=1)
    migrate.upgrade(engine)
    engine.dispose()
    typer.echo("database is at the newest schema", err=True)


@user_app.command("create")
def user_create(
    username: str,
    admin: bool = typer.Option(False, "--admin", help="Global administrator."),
    password: str = typer.Option(
        None,
        "--password",
        envvar="VULNTRAIL_PASSWORD",
        help="Password (or VULNTRAIL_PASSWORD); none means token-only.",
    ),
) -> None:
    """Create a local user."""
    settings = _settings()
    sessions = _sessions(settings)
    migrate.upgrade(sessions.engine)
    try:
        with sessions.write() as session:
            users.create_user(session, username, password, admin=admin)
    except VulntrailError as error:
        typer.echo(f"error: {error.message}", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created user {username!r}", err=True)


def _parse_expiry(text: str | None) -> timedelta | None:
    if not text:
        return None
    units = {"d": 1, "w": 7}
    number, unit = text[:-1], text[-1:]
    if unit not in units or not number.isdigit():
        raise typer.BadParameter(
            "use a number of days or weeks, like 90d or 12w", param_hint="--expires"
        )
    return timedelta(days=int(number) * units[unit])


@token_app.command("create")
def token_create(
    user: str = typer.Option(..., "--user", help="Owner of the token."),
    name: str = typer.Option("", "--name", help="What the token is for."),
    role: str = typer.Option(
        None, "--role", help="Scope the token to one role (reader, writer, importer, …)."
    ),
    products: str = typer.Option(
        None,
        "--products",
        help="Scope the token to products matching a glob, e.g. 'orchestrator-*'.",
    ),
    expires: str = typer.Option(None, "--expires", help="Lifetime, like 90d or 12w."),
) -> None:
    """Create an API token and print it alone on stdout (shown once; only its hash is kept).

    Without --role the token acts with all of its user's rights; with --role (and
    --products, default '*') it acts only within that grant.
    """
    lifetime = _parse_expiry(expires)
    grant = _grant(role, products) if role or products else None
    settings = _settings()
    sessions = _sessions(settings)
    migrate.upgrade(sessions.engine)
    token = tokens.new_token()
    with sessions.write() as session:
        owner = session.scalar(select(User).where(User.username == user))
        if owner is None:
            typer.echo(f"error: no user {user!r}; create it with `vulntrail user create`", err=True)
            raise typer.Exit(1)
        expiry = clock.now() + lifetime if lifetime else None
        row = tokens.store_token(session, owner, token, name=name, expires=expiry, grant=grant)
        audit.record(session, "cli", "create_token", f"user {user}", token_prefix=row.prefix)
    sys.stdout.write(token + "\n")


@user_app.command("grant")
def user_grant(
    username: str,
    role: str = typer.Option(..., "--role", help="reader, writer, importer, maintainer or owner."),
    products: str = typer.Option("*", "--products", help="Glob over product names."),
) -> None:
    """Give a user a role on the products matching a pattern."""
    grant = _grant(role, products)
    settings = _settings()
    sessions = _sessions(settings)
    migrate.upgrade(sessions.engine)
    with sessions.write() as session:
        owner = session.scalar(select(User).where(User.username == username))
        if owner is None:
            typer.echo(f"error: no user {username!r}", err=True)
            raise typer.Exit(1)
        users.grant_role(session, owner, grant)
        audit.record(session, "cli", "grant_role", f"user {username}", role=role, products=products)
    typer.echo(f"{username!r} is {grant.role.value} on {grant.products!r}", err=True)


def _grant(role: str | None, products: str | None) -> Grant:
    try:
        return Grant(parse_role(role or "reader"), parse_pattern(products or "*"))
    except RoleError as error:
        raise typer.BadParameter(str(error)) from None


if __name__ == "__main__":  # pragma: no cover
    app()
