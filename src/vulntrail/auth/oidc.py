"""Single sign-on with OpenID Connect: the authorization code flow with PKCE (S256),
state and nonce, for one confidential client (Authentik, Keycloak, Okta, GitLab…).

1. `begin` reads the provider's discovery document and sends the browser to its
   authorization endpoint. The login in flight (state, nonce, PKCE verifier, where to
   go afterwards, expiry) travels in a cookie that only this browser holds, signed
   with a key derived from the client secret, so every server process with the same
   configuration can finish a login that another one started.
2. `finish` takes the provider's answer: the state must be the cookie's, and each
   state is accepted once (the cookie is cleared, and this process remembers the
   states it has seen until they expire). The code is exchanged at the token
   endpoint with client_secret_basic and the PKCE verifier. The ID token's signature
   is checked against the provider's JWKS (cached; fetched again when an unknown key
   id appears, so key rotation needs no restart), with `iss`, `aud` (and `azp`),
   `exp`, `iat` and `nonce`.
3. The claims become an `SsoAccount`: the user name is `preferred_username`, else
   `email`, else `sub`; the groups claim goes through VULNTRAIL_OIDC_ROLE_MAP.

Every failure is an `OidcRefused` whose message can be shown to the person; no
message ever contains a secret, an authorization code or a token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import jwt

from vulntrail.auth.roles import Grant, Role
from vulntrail.auth.users import SsoAccount
from vulntrail.config import ADMIN_ROLE, OidcSettings

FLOW_SECONDS = 600  # a login must come back within ten minutes
LEEWAY_SECONDS = 60  # clock skew between us and the provider
DISCOVERY_SECONDS = 3600
HTTP_TIMEOUT = 10.0
# Asymmetric signatures only: never "none", and no HMAC keyed with the client secret.
ALGORITHMS = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)


class OidcRefused(Exception):
    """A login that cannot go on: `message` is for the person, `status` for the answer."""

    def __init__(self, message: str, *, status: int = 400, username: str = "") -> None:
        super().__init__(message)
        self.message, self.status, self.username = message, status, username


@dataclass(frozen=True, slots=True)
class ProviderInfo:
    """The parts of the discovery document that the flow uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    algorithms: frozenset[str]


@dataclass(frozen=True, slots=True)
class Flow:
    """One login in flight, as carried by the browser's cookie."""

    state: str
    nonce: str
    verifier: str
    next_path: str
    expires: int


@dataclass(frozen=True, slots=True)
class LoginStart:
    url: str  # the provider's authorization URL to send the browser to
    cookie: str  # the signed flow, for the browser to bring back


class OidcClient:
    """One configured provider; keeps its discovery document, JWKS and seen states."""

    def __init__(self, settings: OidcSettings, *, jwks_cooldown: float = 1.0) -> None:
        self.settings = settings
        self._key = hmac.new(
            settings.client_secret.encode("utf-8"), b"vulntrail oidc login flow v1", "sha256"
        ).digest()
        self._jwks_cooldown = jwks_cooldown
        self._info: tuple[ProviderInfo, float] | None = None
        self._jwks: dict[str, jwt.PyJWKClient] = {}
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    # --- step 1: send the browser to the provider -----------------------------------

    def begin(self, redirect_uri: str, next_path: str) -> LoginStart:
        info = self.provider()
        verifier = secrets.token_urlsafe(48)
        flow = Flow(
            state=secrets.token_urlsafe(24),
            nonce=secrets.token_urlsafe(24),
            verifier=verifier,
            next_path=next_path,
            expires=int(time.time()) + FLOW_SECONDS,
        )
        challenge = _b64(hashlib.sha256(verifier.encode("ascii")).digest())
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": redirect_uri,
                "scope": " ".join(self.settings.scopes),
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            }
        )
        joiner = "&" if "?" in info.authorization_endpoint else "?"
        return LoginStart(f"{info.authorization_endpoint}{joiner}{query}", self._sign(flow))

    # --- step 2: the provider's answer ----------------------------------------------

    def finish(
        self, cookie: str | None, params: Mapping[str, str], redirect_uri: str
    ) -> tuple[SsoAccount, Flow]:
        """The account of a successful login, and the flow it finished."""
        flow = self._flow(cookie)
        if not _same(flow.state, params.get("state", "")):
            raise OidcRefused(
                "The answer of the sign-in service does not belong to the sign-in that this "
                "browser started (the state does not match). Start again."
            )
        self._use_once(flow)
        if params.get("error"):
            described = params.get("error_description", "")[:200]
            raise OidcRefused(
                f"The sign-in service refused the sign-in: {params['error'][:100]}"
                + (f" ({described})" if described else "")
            )
        info = self.provider()
        if "iss" in params and params["iss"].rstrip("/") != info.issuer.rstrip("/"):
            raise OidcRefused("The answer came from another sign-in service (iss does not match).")
        if not params.get("code"):
            raise OidcRefused("The sign-in service sent no authorization code.")
        answer = self._exchange(info, params["code"], flow.verifier, redirect_uri)
        claims = self._validate(info, answer.get("id_token"), flow.nonce)
        if self.settings.groups_claim not in claims and info.userinfo_endpoint:
            claims = self._with_userinfo(info, claims, answer.get("access_token"))
        return account_from_claims(self.settings, info.issuer, claims), flow

    # --- discovery, flow cookie, single use -----------------------------------------

    def provider(self) -> ProviderInfo:
        with self._lock:
            if self._info is not None and self._info[1] > time.monotonic():
                return self._info[0]
        info = _discover(self.settings.issuer)
        with self._lock:
            self._info = (info, time.monotonic() + DISCOVERY_SECONDS)
        return info

    def _sign(self, flow: Flow) -> str:
        body = _b64(json.dumps(asdict(flow), separators=(",", ":")).encode("utf-8"))
        return f"{body}.{_b64(hmac.new(self._key, body.encode(), 'sha256').digest())}"

    def _flow(self, cookie: str | None) -> Flow:
        expired = OidcRefused(
            "This browser has no sign-in in progress, or it took longer than "
            f"{FLOW_SECONDS // 60} minutes. Start again."
        )
        body, _, mac = (cookie or "").partition(".")
        wanted = _b64(hmac.new(self._key, body.encode(), "sha256").digest())
        if not body or not _same(mac, wanted):
            raise expired
        try:
            flow = Flow(**json.loads(_unb64(body)))
        except (ValueError, TypeError):
            raise expired from None
        if flow.expires < time.time():
            raise expired
        return flow

    def _use_once(self, flow: Flow) -> None:
        key = hashlib.sha256(flow.state.encode()).hexdigest()
        now = time.time()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if key in self._seen:
                raise OidcRefused("This sign-in answer was used already. Start again.")
            self._seen[key] = flow.expires

    # --- token endpoint, ID token, userinfo -----------------------------------------

    def _exchange(
        self, info: ProviderInfo, code: str, verifier: str, redirect_uri: str
    ) -> dict[str, Any]:
        # client_secret_basic: both parts form-encoded first (RFC 6749 §2.3.1).
        client = quote(self.settings.client_id, safe="")
        basic = f"{client}:{quote(self.settings.client_secret, safe='')}"
        headers = {
            "Authorization": "Basic " + base64.b64encode(basic.encode()).decode(),
            "Accept": "application/json",
        }
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
        }
        try:
            response = httpx.post(
                info.token_endpoint, data=form, headers=headers, timeout=HTTP_TIMEOUT
            )
            body = response.json()
        except (httpx.HTTPError, ValueError) as error:
            raise OidcRefused(
                f"Cannot read the token endpoint of the sign-in service: {type(error).__name__}",
                status=502,
            ) from None
        if response.status_code != 200 or not isinstance(body, dict):
            error_code = str(body.get("error", "")) if isinstance(body, dict) else ""
            raise OidcRefused(
                "The sign-in service did not accept the authorization code: "
                f"HTTP {response.status_code} {error_code[:100]}".strip()
                + "."
            )
        return body

    def _validate(self, info: ProviderInfo, id_token: Any, nonce: str) -> dict[str, Any]:
        if not isinstance(id_token, str):
            raise OidcRefused("The sign-in service sent no ID token.", status=401)
        try:
            alg = jwt.get_unverified_header(id_token).get("alg")
        except jwt.PyJWTError:
            raise OidcRefused("The ID token is not a readable JWT.", status=401) from None
        if alg not in info.algorithms:
            raise OidcRefused(f"The ID token is signed with {alg!r}, not accepted.", status=401)
        try:
            key = self._jwks_client(info.jwks_uri).get_signing_key_from_jwt(id_token)
        except jwt.PyJWTError as error:
            raise OidcRefused(
                f"No key of the sign-in service verifies the ID token: {error}", status=401
            ) from None
        claims = _decode(id_token, key.key, str(alg), info.issuer, self.settings.client_id)
        audiences = _audiences(claims)
        if len(audiences) > 1 and claims.get("azp") != self.settings.client_id:
            raise OidcRefused("The ID token names several audiences but not us as azp.", status=401)
        if not _same(str(claims.get("nonce", "")), nonce):
            raise OidcRefused(
                "The ID token does not belong to this sign-in (the nonce does not match).",
                status=401,
            )
        return claims

    def _jwks_client(self, uri: str) -> jwt.PyJWKClient:
        with self._lock:
            client = self._jwks.get(uri)
            if client is None:
                # Cached keys; an unknown `kid` fetches the set again (key rotation).
                client = jwt.PyJWKClient(
                    uri,
                    cache_keys=True,
                    lifespan=600,
                    timeout=HTTP_TIMEOUT,
                    cooldown_duration=self._jwks_cooldown,
                )
                self._jwks[uri] = client
            return client

    def _with_userinfo(
        self, info: ProviderInfo, claims: dict[str, Any], access_token: Any
    ) -> dict[str, Any]:
        """Some providers put groups only at the userinfo endpoint."""
        if not isinstance(access_token, str) or not info.userinfo_endpoint:
            return claims
        try:
            response = httpx.get(
                info.userinfo_endpoint,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
                timeout=HTTP_TIMEOUT,
            )
            response.raise_for_status()
            extra = response.json()
        except (httpx.HTTPError, ValueError):
            return claims
        if not isinstance(extra, dict) or extra.get("sub") != claims.get("sub"):
            return claims
        return {**extra, **claims}


def account_from_claims(
    settings: OidcSettings, issuer: str, claims: Mapping[str, Any]
) -> SsoAccount:
    """The user behind verified claims, with the grants their groups map to."""
    username = next(
        (
            value.strip()
            for value in (claims.get(k) for k in ("preferred_username", "email", "sub"))
            if isinstance(value, str) and value.strip()
        ),
        "",
    )
    if not username or len(username) > 150 or any(ord(ch) < 32 for ch in username):
        raise OidcRefused("The sign-in service sent no usable user name.", status=401)
    groups = set(groups_of(claims, settings.groups_claim))
    mapped = [entry for entry in settings.role_map if entry.group in groups]
    grants = tuple(Grant(Role(e.role), e.products) for e in mapped if e.role != ADMIN_ROLE)
    return SsoAccount(
        username=username,
        source=issuer,
        subject=_text(claims.get("sub")),
        email=_text(claims.get("email")),
        full_name=_text(claims.get("name")),
        is_admin=any(e.role == ADMIN_ROLE for e in mapped),
        grants=grants,
    )


def groups_of(claims: Mapping[str, Any], claim: str) -> list[str]:
    """The group names in `claim`; a dotted name walks into objects (`realm_access.roles`)."""
    value: Any = claims.get(claim)
    if value is None and "." in claim:
        value = claims
        for part in claim.split("."):
            value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []


def _decode(token: str, key: Any, alg: str, issuer: str, client_id: str) -> dict[str, Any]:
    try:
        return dict(
            jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=client_id,
                issuer=issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        )
    except jwt.ExpiredSignatureError:
        raise OidcRefused("The ID token has expired.", status=401) from None
    except jwt.InvalidAudienceError:
        raise OidcRefused(
            f"The ID token was issued for another application (its audience is not {client_id!r}).",
            status=401,
        ) from None
    except jwt.InvalidIssuerError:
        raise OidcRefused(
            f"The ID token was issued by another service (not {issuer!r}).", status=401
        ) from None
    except jwt.InvalidSignatureError:
        raise OidcRefused("The ID token's signature is not valid.", status=401) from None
    except jwt.PyJWTError as error:
        raise OidcRefused(f"The ID token is not valid: {error}.", status=401) from None


def _discover(issuer: str) -> ProviderInfo:
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    try:
        response = httpx.get(url, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
        response.raise_for_status()
        doc = response.json()
    except (httpx.HTTPError, ValueError) as error:
        raise OidcRefused(
            f"The sign-in service at {issuer} cannot be reached ({type(error).__name__}). "
            "Try again later.",
            status=502,
        ) from None
    needed = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), str) for k in needed):
        raise OidcRefused(f"The discovery document of {issuer} is incomplete.", status=502)
    if doc["issuer"].rstrip("/") != issuer.rstrip("/"):
        raise OidcRefused(f"The discovery document of {issuer} names another issuer.", status=502)
    advertised = doc.get("id_token_signing_alg_values_supported") or ["RS256"]
    algorithms = ALGORITHMS & {str(a) for a in advertised}
    if not algorithms:
        raise OidcRefused(f"{issuer} signs ID tokens only with algorithms we refuse.", status=502)
    userinfo = doc.get("userinfo_endpoint")
    return ProviderInfo(
        issuer=doc["issuer"],
        authorization_endpoint=doc["authorization_endpoint"],
        token_endpoint=doc["token_endpoint"],
        jwks_uri=doc["jwks_uri"],
        userinfo_endpoint=userinfo if isinstance(userinfo, str) else None,
        algorithms=frozenset(algorithms),
    )


def _audiences(claims: Mapping[str, Any]) -> list[str]:
    aud = claims.get("aud")
    return [aud] if isinstance(aud, str) else [str(a) for a in aud or []]


def _text(value: Any) -> str:
    return value.strip()[:255] if isinstance(value, str) else ""


def _same(given: str, expected: str) -> bool:
    """Constant-time comparison that also takes text that is not ASCII."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
