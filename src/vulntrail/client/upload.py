"""The DefectDojo-compatible API over httpx: import-scan, and the reads the gate needs.

Only fields and endpoints DefectDojo has are required; vulntrail's per-run view
(`/engagements/{id}/findings/`) is used when the server has it, and its absence
(404 on DefectDojo) is an answer, not an error.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx

from vulntrail.client.ci_env import ImportTarget
from vulntrail.client.credentials import Credential
from vulntrail.client.errors import (
    ClientError,
    CredentialsError,
    ReportError,
    UnreachableError,
    UsageError,
)
from vulntrail.client.model import FindingRow, ImportOutcome, RunFinding, Severity
from vulntrail.client.retry import RETRY_STATUSES, RetryPolicy

USER_AGENT = "vulntrail-import/1"
# Reports can be large and the server parses them before answering.
DEFAULT_TIMEOUT = 300.0


def _problem(response: httpx.Response) -> str:
    """The server's own words: DRF's {"field": ["message"]} or {"detail": "…"}."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(body, dict):
        parts = []
        for key, value in body.items():
            text = "; ".join(map(str, value)) if isinstance(value, list) else str(value)
            parts.append(text if key == "detail" else f"{key}: {text}")
        return "; ".join(parts)[:1000]
    return str(body)[:300]


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise UsageError(
            f"{response.request.url} answered HTTP {response.status_code} without JSON "
            "(is --url the server's base URL?)"
        ) from None


def _results(body: Any) -> list[dict[str, Any]]:
    items = body.get("results") if isinstance(body, dict) else None
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


class Server:
    """One vulntrail or DefectDojo server, authenticated, with retries on every call."""

    def __init__(
        self,
        url: str,
        credential: Credential,
        *,
        policy: RetryPolicy | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        log: Callable[[str], None] = lambda _: None,
    ) -> None:
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise UsageError(f"--url {url!r} must start with http:// or https://")
        self.policy = policy or RetryPolicy()
        self._log = log
        try:
            self._http = httpx.Client(
                base_url=self.url,
                headers={"Authorization": credential.header, "User-Agent": USER_AGENT},
                timeout=timeout,
            )
        except httpx.InvalidURL as error:
            raise UsageError(f"--url {url!r} is not a valid URL: {error}") from None

    def __enter__(self) -> Server:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._http.close()

    def engagement_link(self, engagement_id: int, *, defectdojo: bool = False) -> str:
        """The engagement's page in the web UI (DefectDojo spells it /engagement/{id})."""
        return f"{self.url}/{'engagement' if defectdojo else 'engagements'}/{engagement_id}"

    def import_scan(
        self, report: bytes, file_name: str, scan_type: str, target: ImportTarget
    ) -> ImportOutcome:
        """POST /api/v2/import-scan/ with the seed's fields; creates product and engagement."""
        fields = {
            "scan_type": scan_type,
            "product_name": target.product,
            "engagement_name": target.engagement,
            "auto_create_context": "true",
            "branch_tag": target.branch,
            "commit_hash": target.commit,
            "build_id": target.build_id,
        }
        data = {key: value for key, value in fields.items() if value}
        files = {"file": (file_name, report, "application/json")}
        response = self._send("POST", "/api/v2/import-scan/", data=data, files=files)
        self._check(response, "import", bad_request=ReportError)
        return ImportOutcome.from_json(_json(response))

    def run_findings(self, engagement_id: int) -> list[RunFinding] | None:
        """vulntrail's view of one run; None when the server has no such view (DefectDojo)."""
        path: str | None = f"/api/v2/engagements/{engagement_id}/findings/?limit=1000"
        found: list[RunFinding] = []
        while path:
            response = self._send("GET", path)
            if response.status_code == 404:
                return None
            self._check(response, "reading the run's findings")
            body = _json(response)
            found.extend(RunFinding.from_json(item) for item in _results(body))
            following = body.get("next") if isinstance(body, dict) else None
            path = following if isinstance(following, str) and following else None
        return found

    def default_branch(self, product: str) -> str | None:
        """The product's default branch (vulntrail has it; DefectDojo does not)."""
        response = self._send("GET", "/api/v2/products/", params={"name_exact": product})
        self._check(response, "reading the product")
        for item in _results(_json(response)):
            if item.get("name") == product:
                branch = item.get("default_branch")
                return branch if isinstance(branch, str) and branch else None
        return None

    def open_findings(
        self, product: str, severity: Severity, *, limit: int
    ) -> tuple[int, list[FindingRow]]:
        """How many findings of the product are active at `severity`, and the first few."""
        params = {
            "product_name": product,
            "active": "true",
            "severity": severity.label,
            "limit": str(limit),
        }
        response = self._send("GET", "/api/v2/findings/", params=params)
        self._check(response, "counting open findings")
        body = _json(response)
        rows = [FindingRow.from_json(item) for item in _results(body)]
        count = body.get("count") if isinstance(body, dict) else None
        return (count if isinstance(count, int) else len(rows)), rows

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call, tried again on connection errors, 429 and 5xx."""
        last = ""
        for attempt in range(1, self.policy.attempts + 1):
            retry_after: str | None = None
            try:
                response = self._http.request(method, path, **kwargs)
            except httpx.UnsupportedProtocol:
                raise UsageError(f"--url {self.url!r} is not an http(s) URL") from None
            except httpx.TransportError as error:
                last = f"{type(error).__name__}: {error}"
            else:
                if response.status_code not in RETRY_STATUSES:
                    return response
                last = f"HTTP {response.status_code}: {_problem(response)}"
                retry_after = response.headers.get("retry-after")
            if attempt < self.policy.attempts:
                wait = self.policy.wait(attempt, retry_after)
                self._log(
                    f"{method} {path}: {last}; trying again in {wait:.1f} s "
                    f"(attempt {attempt + 1} of {self.policy.attempts})"
                )
                self.policy.sleep(wait)
        raise UnreachableError(
            f"{self.url} is unreachable or unavailable after {self.policy.attempts} "
            f"attempt(s); last error: {last}"
        )

    def _check(
        self, response: httpx.Response, what: str, *, bad_request: type[ClientError] = UsageError
    ) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        problem = _problem(response)
        if status in (401, 403):
            raise CredentialsError(
                f"{what}: the server refused the credentials (HTTP {status}): {problem}"
            )
        if status in (400, 413):
            raise bad_request(f"{what}: the server rejected the request (HTTP {status}): {problem}")
        raise UsageError(
            f"{what}: unexpected answer HTTP {status} from {self.url}{response.request.url.path}: "
            f"{problem} (is --url the server's base URL?)"
        )
