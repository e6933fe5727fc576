"""Which credential the import sends, and where it comes from.

In order of preference: the CI job's OIDC JWT sent directly (no stored secret at
all, when the server trusts the CI issuer); a token read from Vault with the job's
JWT (the seed's flow); a token from VULNTRAIL_TOKEN. `--auth auto` picks the first
one that is configured. Every secret is registered with the masker as it is read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import httpx

from vulntrail.client.errors import CredentialsError, UnreachableError, UsageError
from vulntrail.client.masking import Masker
from vulntrail.client.retry import RetryPolicy
from vulntrail.client.vault import VaultOptions, fetch_token

TOKEN_VAR = "VULNTRAIL_TOKEN"
# GitLab's pre-17.0 job token, then the id_tokens name GitLab's Vault docs use.
DEFAULT_JWT_VARS = ("CI_JOB_JWT_V2", "VAULT_ID_TOKEN")
# GitHub Actions hands out OIDC tokens on request (needs `permissions: id-token: write`).
GITHUB_REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
GITHUB_REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"


class AuthMethod(StrEnum):
    AUTO = "auto"
    OIDC = "oidc"
    VAULT = "vault"
    TOKEN = "token"


@dataclass(frozen=True, slots=True)
class Credential:
    """What goes into the Authorization header; `secret` never appears in a repr."""

    scheme: str  # "Token" (DefectDojo's API token) or "Bearer" (a JWT)
    secret: str = field(repr=False)
    source: str = ""  # where it came from, safe to print

    @property
    def header(self) -> str:
        return f"{self.scheme} {self.secret}"


@dataclass(frozen=True, slots=True)
class CredentialOptions:
    method: AuthMethod = AuthMethod.AUTO
    oidc_token_var: str | None = None  # the id_tokens variable sent as a Bearer JWT
    jwt_var: str | None = None  # the variable holding the JWT for Vault login
    jwt_audience: str | None = None  # audience asked of GitHub Actions
    vault: VaultOptions | None = None  # None: no --vault-addr


def choose(options: CredentialOptions, env: Mapping[str, str]) -> AuthMethod:
    """The method `--auth auto` stands for: the most preferred one that is configured."""
    if options.method is not AuthMethod.AUTO:
        return options.method
    if options.oidc_token_var:
        return AuthMethod.OIDC
    if options.vault is not None:
        return AuthMethod.VAULT
    if env.get(TOKEN_VAR, "").strip():
        return AuthMethod.TOKEN
    raise UsageError(
        "no credentials: pass --oidc-token-var NAME (the job's OIDC JWT), --vault-addr "
        f"(Vault JWT login, or VAULT_ADDR), or set {TOKEN_VAR}"
    )


def obtain(
    options: CredentialOptions,
    env: Mapping[str, str],
    masker: Masker,
    policy: RetryPolicy,
    log: Callable[[str], None] = lambda _: None,
) -> Credential:
    method = choose(options, env)
    if method is AuthMethod.OIDC:
        jwt, where = job_jwt(env, options.oidc_token_var, (), options.jwt_audience, masker)
        return Credential("Bearer", jwt, f"the CI job's OIDC JWT from {where}")
    if method is AuthMethod.VAULT:
        if options.vault is None:
            raise UsageError("--auth vault needs --vault-addr (or VAULT_ADDR)")
        jwt, where = job_jwt(env, options.jwt_var, DEFAULT_JWT_VARS, options.jwt_audience, masker)
        log(f"logging in to Vault at {options.vault.addr} as role {options.vault.role!r} ({where})")
        token = fetch_token(options.vault, jwt, masker, policy)
        source = f"Vault {options.vault.secret_path}#{options.vault.field}"
        return Credential("Token", token, source)
    token = masker.register(env.get(TOKEN_VAR, "").strip())
    if not token:
        raise UsageError(f"--auth token needs the API token in {TOKEN_VAR}")
    return Credential("Token", token, TOKEN_VAR)


def job_jwt(
    env: Mapping[str, str],
    var: str | None,
    fallbacks: tuple[str, ...],
    audience: str | None,
    masker: Masker,
) -> tuple[str, str]:
    """The job's JWT and where it came from: a named variable, the usual ones, or GitHub."""
    if var:
        value = env.get(var, "").strip()
        if not value:
            raise UsageError(
                f"the JWT variable {var} is empty or unset; on GitLab declare it under "
                "id_tokens: in the job"
            )
        return masker.register(value), var
    for name in fallbacks:
        value = env.get(name, "").strip()
        if value:
            return masker.register(value), name
    if env.get(GITHUB_REQUEST_URL) and env.get(GITHUB_REQUEST_TOKEN):
        return github_actions_jwt(env, audience, masker), "GitHub Actions OIDC"
    names = " or ".join(fallbacks) if fallbacks else "--oidc-token-var NAME"
    raise UsageError(
        f"no CI job JWT: set {names}, or name an id_tokens variable "
        "(--vault-jwt-var / --oidc-token-var); on GitHub Actions grant id-token: write"
    )


def github_actions_jwt(env: Mapping[str, str], audience: str | None, masker: Masker) -> str:
    """Ask the GitHub Actions runtime for an OIDC token with the given audience."""
    request_token = masker.register(env[GITHUB_REQUEST_TOKEN])
    try:
        url = httpx.URL(env[GITHUB_REQUEST_URL])
    except httpx.InvalidURL:
        raise UsageError(f"{GITHUB_REQUEST_URL} is not a valid URL") from None
    if audience:
        # Merged, not replaced: the runtime's URL carries its own api-version parameter.
        url = url.copy_merge_params({"audience": audience})
    try:
        response = httpx.get(
            url,
            headers={"Authorization": f"bearer {request_token}"},
            timeout=30,
        )
    except httpx.HTTPError as error:
        raise UnreachableError(f"GitHub Actions OIDC endpoint unreachable: {error}") from None
    if response.status_code != 200:
        raise CredentialsError(
            f"GitHub Actions refused an OIDC token (HTTP {response.status_code}); "
            "does the job have permissions: id-token: write?"
        )
    try:
        value = response.json().get("value")
    except (ValueError, AttributeError):
        value = None
    if not isinstance(value, str) or not value:
        raise CredentialsError("GitHub Actions answered without an OIDC token")
    return masker.register(value)
