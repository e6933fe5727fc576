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
    # Notifications (see vulntrail.notify): the outbox worker of each server process.
    notify_poll_seconds: float = 2.0  # VULNTRAIL_NOTIFY_POLL_SECONDS: outbox poll interval
    notify_max_attempts: int = 12  # VULNTRAIL_NOTIFY_MAX_ATTEMPTS: then the message is failed
    notify_backoff_seconds: float = 5.0  # VULNTRAIL_NOTIFY_BACKOFF_SECONDS: first retry delay
    notify_timeout_seconds: float = 10.0  # VULNTRAIL_NOTIFY_TIMEOUT_SECONDS: per HTTP POST
    notify_watch_seconds: float = 900.0  # VULNTRAIL_NOTIFY_WATCH_SECONDS: SLA/expiry scan
    sla_warn_days: int = 3  # VULNTRAIL_SLA_WARN_DAYS: warn when the SLA is due within N days
    acceptance_warn_days: int = 7  # VULNTRAIL_ACCEPTANCE_WARN_DAYS: risk acceptance ends soon
    metrics_token: str | None = None  # VULNTRAIL_METRICS_TOKEN: bearer token for /metrics

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
            notify_poll_seconds=_positive_float(env, "VULNTRAIL_NOTIFY_POLL_SECONDS", 2.0),
            notify_max_attempts=_positive_int(env, "VULNTRAIL_NOTIFY_MAX_ATTEMPTS", 12),
            notify_backoff_seconds=_positive_float(env, "VULNTRAIL_NOTIFY_BACKOFF_SECONDS", 5.0),
            notify_timeout_seconds=_positive_float(env, "VULNTRAIL_NOTIFY_TIMEOUT_SECONDS", 10.0),
            notify_watch_seconds=_positive_float(env, "VULNTRAIL_NOTIFY_WATCH_SECONDS", 900.0),
            sla_warn_days=_positive_int(env, "VULNTRAIL_SLA_WARN_DAYS", 3),
            acceptance_warn_days=_positive_int(env, "VULNTRAIL_ACCEPTANCE_WARN_DAYS", 7),
            metrics_token=env.get("VULNTRAIL_METRICS_TOKEN") or None,
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


def _positive_float(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{key}={raw!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise ConfigError(f"{key}={raw!r} must be a finite number greater than 0")
    return value
