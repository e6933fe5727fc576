"""The API token from Vault (or OpenBao): JWT login with the CI job's token, then a KV read.

This is the seed's flow: log in under the `nexus-ci` role with the job's JWT, read
`secret/data/defectdojo/svc-orchestrator`, use its `token` field. The Vault token
lives only for this process and is never written anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import hvac  # type: ignore[import-untyped]
import hvac.exceptions  # type: ignore[import-untyped]

from vulntrail.client.errors import CredentialsError, UnreachableError, UsageError
from vulntrail.client.masking import Masker
from vulntrail.client.retry import RetryPolicy

T = TypeVar("T")
_MULTIERROR_HEAD = re.compile(r"^\d+ errors? occurred:\s*")

DEFAULT_ROLE = "nexus-ci"
DEFAULT_SECRET = "secret/data/defectdojo/svc-orchestrator"
DEFAULT_FIELD = "token"
DEFAULT_AUTH_PATH = "jwt"

# Vault answers these when it is sealed, overloaded or behind a failing proxy: worth a retry.
_TRANSIENT = (
    hvac.exceptions.VaultDown,
    hvac.exceptions.BadGateway,
    hvac.exceptions.RateLimitExceeded,
    hvac.exceptions.InternalServerError,
)


@dataclass(frozen=True, slots=True)
class VaultOptions:
    addr: str
    role: str = DEFAULT_ROLE
    secret_path: str = DEFAULT_SECRET
    field: str = DEFAULT_FIELD
    auth_path: str = DEFAULT_AUTH_PATH
    timeout: float = 30.0


def _reason(error: Exception) -> str:
    """Vault's own error text on one line, without hvac's ", on post <url>" suffix."""
    errors = getattr(error, "errors", None)
    text = "\n".join(map(str, errors)) if errors else str(error.args[0] if error.args else "")
    # Vault wraps some errors as Go multierrors: "1 error occurred:\n\t* permission denied".
    text = _MULTIERROR_HEAD.sub("", text.strip())
    lines = (line.strip().removeprefix("* ") for line in text.splitlines())
    return "; ".join(line for line in lines if line) or type(error).__name__


def _call(what: str, addr: str, policy: RetryPolicy, call: Callable[[], T]) -> T:
    last = ""
    for attempt in range(1, policy.attempts + 1):
        try:
            return call()
        except _TRANSIENT as error:
            last = _reason(error)
        except OSError as error:  # requests' connection errors and timeouts are OSErrors
            last = f"{type(error).__name__}: {error}"
        if attempt < policy.attempts:
            policy.sleep(policy.wait(attempt))
    raise UnreachableError(
        f"Vault at {addr} is unreachable or unavailable ({what}, {policy.attempts} attempt(s)): "
        f"{last}"
    )


def _secret_data(answer: Any) -> dict[str, Any]:
    """The key/value pairs of a KV v2 answer ({data: {data: …, metadata: …}}) or a KV v1 one."""
    data = answer.get("data") if isinstance(answer, dict) else None
    if isinstance(data, dict) and isinstance(data.get("data"), dict) and "metadata" in data:
        inner: dict[str, Any] = data["data"]
        return inner
    return data if isinstance(data, dict) else {}


def fetch_token(options: VaultOptions, jwt: str, masker: Masker, policy: RetryPolicy) -> str:
    """Log in with `jwt` under `options.role` and return the secret's field."""
    if not options.addr.startswith(("http://", "https://")):
        raise UsageError(f"--vault-addr {options.addr!r} must start with http:// or https://")
    client = hvac.Client(url=options.addr, timeout=options.timeout)
    try:
        answer = _call(
            "JWT login",
            options.addr,
            policy,
            lambda: client.auth.jwt.jwt_login(role=options.role, jwt=jwt, path=options.auth_path),
        )
    except hvac.exceptions.VaultError as error:
        raise CredentialsError(
            f"Vault refused the JWT login for role {options.role!r} at "
            f"{options.addr}/v1/auth/{options.auth_path}/login: {_reason(error)}"
        ) from None
    masker.register(str(answer.get("auth", {}).get("client_token", "")))
    try:
        secret = _call(
            "reading the secret", options.addr, policy, lambda: client.read(options.secret_path)
        )
    except (hvac.exceptions.Forbidden, hvac.exceptions.Unauthorized) as error:
        raise CredentialsError(
            f"Vault role {options.role!r} may not read {options.secret_path!r}: {_reason(error)}"
        ) from None
    except hvac.exceptions.VaultError as error:
        raise UsageError(
            f"Vault could not read {options.secret_path!r}: {_reason(error)}"
        ) from None
    value = _secret_data(secret).get(options.field)
    if secret is None or not isinstance(value, str) or not value:
        raise UsageError(
            f"Vault secret {options.secret_path!r} has no field {options.field!r} "
            "(for KV v2 the path is <mount>/data/<path>; the field is --vault-field)"
        )
    # A trailing newline pasted into the secret would make an invalid header.
    return masker.register(value).strip()
