"""One settings object, built at start from the environment and passed down.

Nothing here runs at import time: call :func:`Settings.from_env`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the key and the value."""


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str
    bootstrap_token: str | None = None
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    default_branch: str = "main"
    default_product_type: str = "Default"
    ci_trust: str | None = None  # VULNTRAIL_CI_TRUST: JSON trust policies for CI job JWTs
    sla_days: str | None = None  # VULNTRAIL_SLA_DAYS: "critical=7,high=30,…" (see vulntrail.sla)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        url = env.get("VULNTRAIL_DATABASE_URL") or default_sqlite_url()
        return cls(
            database_url=normalize_database_url(url),
            bootstrap_token=env.get("VULNTRAIL_BOOTSTRAP_TOKEN") or None,
            max_upload_bytes=_positive_int(
                env, "VULNTRAIL_MAX_UPLOAD_BYTES", DEFAULT_MAX_UPLOAD_BYTES
            ),
            default_branch=env.get("VULNTRAIL_DEFAULT_BRANCH") or "main",
            ci_trust=env.get("VULNTRAIL_CI_TRUST") or None,
            sla_days=env.get("VULNTRAIL_SLA_DAYS") or None,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def default_sqlite_url() -> str:
    return f"sqlite:///{Path.cwd() / 'vulntrail.db'}"


def normalize_database_url(url: str) -> str:
    """Accept the URL spellings people paste; always talk to PostgreSQL through psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    try:
        parsed = make_url(url)
    except ArgumentError:
        parsed = None
    if parsed is None or parsed.drivername not in ("sqlite", "postgresql+psycopg"):
        raise ConfigError(
            f"VULNTRAIL_DATABASE_URL={url!r}: use sqlite:///path/to/file.db or "
            "postgresql+psycopg://user@host:port/database"
        )
    return url


def _positive_int(env: Mapping[str, str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"{key}={raw!r} must be greater than 0")
    return value
