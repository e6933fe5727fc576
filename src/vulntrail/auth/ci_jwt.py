"""CI identity without stored secrets: a CI job's own OIDC JWT as API credentials.

GitLab (`id_tokens`) and GitHub Actions sign a JWT per job. A *trust policy* says
which issuer and audience to accept, which claim values a job must have (globs, e.g.
`project_path: cwiq/orchestrator-*`, `ref_protected: "true"`), and the role and
product pattern such a job gets. Signatures are checked against the issuer's JWKS
(fetched from `jwks_url` or the issuer's discovery document, cached, and fetched again
when an unknown key id appears, so key rotation needs no restart); `exp`, `nbf`,
`iss` and `aud` are always checked.

Configure with VULNTRAIL_CI_TRUST: a JSON list of policies, or `@/path/to/file.json`.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import httpx
import jwt

from vulntrail.auth.roles import Grant, RoleError, parse_pattern, parse_role
from vulntrail.auth.tokens import Principal
from vulntrail.config import ConfigError

ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
LEEWAY_SECONDS = 30


class CiJwtRefused(Exception):
    """The JWT was not accepted; `status` is 401 (not valid) or 403 (valid, not trusted)."""

    def __init__(self, message: str, status: int, subject: str = "") -> None:
        super().__init__(message)
        self.message, self.status, self.subject = message, status, subject


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    name: str
    issuer: str
    audience: str
    grant: Grant
    claims: Mapping[str, str] = field(default_factory=dict)
    jwks_url: str | None = None

    def matches(self, claims: Mapping[str, Any]) -> list[str]:
        """The claim rules this job fails (empty: it is trusted)."""
        failed = []
        for name, pattern in self.claims.items():
            value = claims.get(name)
            text = str(value).lower() if isinstance(value, bool) else str(value)
            if value is None or not fnmatchcase(text, pattern):
                failed.append(f"{name}={value!r} does not match {pattern!r}")
        return failed


def load_policies(raw: str | None) -> list[TrustPolicy]:
    """Policies from VULNTRAIL_CI_TRUST; a ConfigError names what is wrong."""
    if not raw:
        return []
    text = Path(raw[1:]).read_text() if raw.startswith("@") else raw
    try:
        items = json.loads(text)
    except json.JSONDecodeError as error:
        raise ConfigError(f"VULNTRAIL_CI_TRUST is not valid JSON: {error}") from None
    if not isinstance(items, list):
        raise ConfigError("VULNTRAIL_CI_TRUST must be a JSON list of trust policies")
    return [_policy(item, index) for index, item in enumerate(items)]


def _policy(item: Any, index: int) -> TrustPolicy:
    where = f"VULNTRAIL_CI_TRUST[{index}]"
    if not isinstance(item, dict):
        raise ConfigError(f"{where} must be an object")
    for key in ("issuer", "audience"):
        if not isinstance(item.get(key), str) or not item[key]:
            raise ConfigError(f"{where}.{key} is required")
    claims = item.get("claims", {})
    if not isinstance(claims, dict) or not all(isinstance(v, str) for v in claims.values()):
        raise ConfigError(f"{where}.claims must map claim names to glob strings")
    try:
        grant = Grant(
            parse_role(item.get("role", "importer")), parse_pattern(item.get("products", "*"))
        )
    except RoleError as error:
        raise ConfigError(f"{where}: {error}") from None
    return TrustPolicy(
        name=str(item.get("name") or f"policy-{index}"),
        issuer=item["issuer"].rstrip("/"),
        audience=item["audience"],
        grant=grant,
        claims=claims,
        jwks_url=item.get("jwks_url"),
    )


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2 and credential.startswith("eyJ")


class CiJwtVerifier:
    def __init__(self, policies: list[TrustPolicy]) -> None:
        self.policies = policies
        self._clients: dict[str, jwt.PyJWKClient] = {}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self.policies)

    def verify(self, token: str) -> Principal:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise CiJwtRefused("the bearer token is not a readable JWT", 401) from None
        issuer = str(unverified.get("iss", "")).rstrip("/")
        candidates = [p for p in self.policies if p.issuer == issuer]
        if not candidates:
            raise CiJwtRefused(f"no trust policy for issuer {issuer!r}", 401)
        claims = self._verified_claims(token, candidates)
        subject = str(claims.get("sub", ""))
        reasons: list[str] = []
        for policy in candidates:
            if policy.audience not in _audiences(claims):
                continue
            failed = policy.matches(claims)
            if not failed:
                return Principal(
                    user_id=None,
                    username=f"ci:{policy.name}:{subject}"[:255],
                    is_admin=False,
                    grants=(policy.grant,),
                    source="ci-jwt",
                )
            reasons.extend(failed)
        raise CiJwtRefused("no trust policy allows this job: " + "; ".join(reasons), 403, subject)

    def _verified_claims(self, token: str, candidates: list[TrustPolicy]) -> dict[str, Any]:
        policy = candidates[0]
        try:
            key = self._jwks(policy).get_signing_key_from_jwt(token)
        except (jwt.PyJWKClientError, jwt.DecodeError) as error:
            raise CiJwtRefused(f"cannot find the JWT's signing key: {error}", 401) from None
        audiences = sorted({p.audience for p in candidates})
        try:
            return dict(
                jwt.decode(
                    token,
                    key.key,
                    algorithms=ALGORITHMS,
                    audience=audiences,
                    issuer=policy.issuer,
                    leeway=LEEWAY_SECONDS,
                    options={"require": ["exp", "iss", "aud"]},
                )
            )
        except jwt.ExpiredSignatureError:
            raise CiJwtRefused("the JWT has expired", 401) from None
        except jwt.InvalidAudienceError:
            raise CiJwtRefused(f"the JWT's audience is not {' or '.join(audiences)}", 401) from None
        except jwt.PyJWTError as error:
            raise CiJwtRefused(f"the JWT is not valid: {error}", 401) from None

    def _jwks(self, policy: TrustPolicy) -> jwt.PyJWKClient:
        with self._lock:
            client = self._clients.get(policy.issuer)
            if client is None:
                url = policy.jwks_url or _discover_jwks(policy.issuer)
                # Cached keys; an unknown `kid` makes PyJWKClient fetch the set again (rotation).
                client = jwt.PyJWKClient(url, cache_keys=True, lifespan=600, timeout=10)
                self._clients[policy.issuer] = client
            return client


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [str(a) for a in aud or []]


def _discover_jwks(issuer: str) -> str:
    try:
        response = httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=10)
        response.raise_for_status()
        return str(response.json()["jwks_uri"])
    except (httpx.HTTPError, KeyError, ValueError) as error:
        raise CiJwtRefused(
            f"cannot read the discovery document of {issuer!r}: {error}", 401
        ) from None
