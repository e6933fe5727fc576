"""One settings object, built at start from the environment and passed down.

Nothing here runs at import time: call :func:`Settings.from_env`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from vulntrail.auth.roles import RoleError, parse_pattern, parse_role

DEFAULT_MAX_UPLOAD_BYTES = 200 * 1024 * 1024
DEFAULT_OIDC_SCOPES = ("openid", "email", "profile", "groups")
ADMIN_ROLE = "admin"  # in VULNTRAIL_OIDC_ROLE_MAP: the group makes its members administrators


class ConfigError(ValueError):
    """A setting has a value we cannot use; the message names the key and the value."""


@dataclass(frozen=True, slots=True)
class GroupRole:
    """One entry of VULNTRAIL_OIDC_ROLE_MAP: members of `group` get `role` on `products`."""

    group: str
    role: str  # a role name of vulntrail.auth.roles, or "admin"
    products: str = "*"


@dataclass(frozen=True, slots=True)
class OidcSettings:
    """Single sign-on with an OpenID Connect provider (Authentik, Keycloak, Okta, GitLab…)."""

    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = DEFAULT_OIDC_SCOPES
    groups_claim: str = "groups"
    role_map: tuple[GroupRole, ...] = ()
    local_login: bool = True
    public_url: str | None = None  # VULNTRAIL_PUBLIC_URL: base of the redirect URI
    name: str = "SSO"  # VULNTRAIL_OIDC_NAME: the provider's name on the login button

    def redirect_uri(self, request_base_url: str) -> str:
        """Where the provider sends the browser back: under VULNTRAIL_PUBLIC_URL when set."""
        base = (self.public_url or request_base_url).rstrip("/")
        return f"{base}/login/sso/callback"


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
    oidc: OidcSettings | None = None  # VULNTRAIL_OIDC_*: browser single sign-on

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
            oidc=oidc_from_env(env),
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def local_login(self) -> bool:
        """Password login on the web page (VULNTRAIL_OIDC_LOCAL_LOGIN=false turns it off)."""
        return self.oidc is None or self.oidc.local_login


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


def oidc_from_env(env: Mapping[str, str]) -> OidcSettings | None:
    """The VULNTRAIL_OIDC_* settings; None when no issuer is set."""
    # Kept as written: some providers' issuers end with "/" (Authentik), and the ID
    # token's `iss` must match the provider's own spelling.
    issuer = (env.get("VULNTRAIL_OIDC_ISSUER") or "").strip()
    if not issuer:
        if not _flag(env, "VULNTRAIL_OIDC_LOCAL_LOGIN", True):
            raise ConfigError(
                "VULNTRAIL_OIDC_LOCAL_LOGIN=false needs VULNTRAIL_OIDC_ISSUER: "
                "without single sign-on nobody could log in to the web pages"
            )
        return None
    _require_url("VULNTRAIL_OIDC_ISSUER", issuer)
    client_id = (env.get("VULNTRAIL_OIDC_CLIENT_ID") or "").strip()
    secret = env.get("VULNTRAIL_OIDC_CLIENT_SECRET") or ""
    if not client_id:
        raise ConfigError("VULNTRAIL_OIDC_CLIENT_ID is required with VULNTRAIL_OIDC_ISSUER")
    if not secret:
        raise ConfigError("VULNTRAIL_OIDC_CLIENT_SECRET is required with VULNTRAIL_OIDC_ISSUER")
    scopes = tuple((env.get("VULNTRAIL_OIDC_SCOPES") or " ".join(DEFAULT_OIDC_SCOPES)).split())
    if "openid" not in scopes:
        raise ConfigError(f"VULNTRAIL_OIDC_SCOPES={' '.join(scopes)!r} must include 'openid'")
    public_url = (env.get("VULNTRAIL_PUBLIC_URL") or "").strip().rstrip("/") or None
    if public_url:
        _require_url("VULNTRAIL_PUBLIC_URL", public_url)
    return OidcSettings(
        issuer=issuer,
        client_id=client_id,
        client_secret=secret,
        scopes=scopes,
        groups_claim=(env.get("VULNTRAIL_OIDC_GROUPS_CLAIM") or "groups").strip(),
        role_map=parse_role_map(env.get("VULNTRAIL_OIDC_ROLE_MAP")),
        local_login=_flag(env, "VULNTRAIL_OIDC_LOCAL_LOGIN", True),
        public_url=public_url,
        name=(env.get("VULNTRAIL_OIDC_NAME") or "SSO").strip()[:60] or "SSO",
    )


def parse_role_map(raw: str | None) -> tuple[GroupRole, ...]:
    """VULNTRAIL_OIDC_ROLE_MAP: `{"group": [{"role": "writer", "products": "glob"}]}`,
    or `@/path/to/file.json`. A single object may stand for a list of one."""
    key = "VULNTRAIL_OIDC_ROLE_MAP"
    if not raw or not raw.strip():
        return ()
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        mapping = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"{key} is not valid JSON: {error}") from None
    if not isinstance(mapping, dict):
        raise ConfigError(f"{key} must be a JSON object mapping group names to roles")
    entries: list[GroupRole] = []
    for group, roles in mapping.items():
        for index, item in enumerate(roles if isinstance(roles, list) else [roles]):
            entries.append(_group_role(f"{key}[{group!r}][{index}]", group, item))
    return tuple(entries)


def _group_role(where: str, group: str, item: Any) -> GroupRole:
    if not isinstance(item, dict) or not isinstance(item.get("role"), str):
        raise ConfigError(f'{where} must be an object like {{"role": "reader", "products": "*"}}')
    products = item.get("products", "*")
    if not isinstance(products, str):
        raise ConfigError(f"{where}.products must be a product-name glob string")
    role = item["role"].strip().lower()
    try:
        if role != ADMIN_ROLE:
            role = parse_role(role).value
        products = parse_pattern(products)
    except RoleError as error:
        raise ConfigError(f"{where}: {error} (or 'admin')") from None
    return GroupRole(group, role, products)


def _flag(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = (env.get(key) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{key}={env[key]!r}: use true or false")


def _require_url(key: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{key}={value!r} must be an http(s) URL without query or fragment")
