"""What the server answers, as typed values the summary and the gate work on.

The API's JSON is read here, once, defensively: a DefectDojo server may leave out
fields vulntrail sends, and a missing count reads as 0 rather than failing the job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any


class Severity(Enum):
    """DefectDojo's severities, most severe first; `key` is the statistics key."""

    CRITICAL = ("Critical", "critical")
    HIGH = ("High", "high")
    MEDIUM = ("Medium", "medium")
    LOW = ("Low", "low")
    INFO = ("Info", "info")

    def __init__(self, label: str, key: str) -> None:
        self.label = label
        self.key = key

    @classmethod
    def parse(cls, text: str) -> Severity | None:
        wanted = text.strip().lower()
        if wanted == "informational":
            wanted = "info"
        return next((s for s in cls if s.key == wanted), None)

    @property
    def rank(self) -> int:
        return list(Severity).index(self)


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


@dataclass(frozen=True, slots=True)
class Counts:
    """Active findings per severity."""

    by_severity: dict[Severity, int] = field(default_factory=dict)

    def __getitem__(self, severity: Severity) -> int:
        return self.by_severity.get(severity, 0)

    @property
    def total(self) -> int:
        return sum(self.by_severity.values())

    @classmethod
    def from_table(cls, table: Any) -> Counts:
        """One DefectDojo statistics table: {severity key: {active, total, …}}."""
        rows = _mapping(table)
        return cls({s: _int(_mapping(rows.get(s.key)).get("active")) for s in Severity})


@dataclass(frozen=True, slots=True)
class Statistics:
    """The import's statistics: what it created, closed and reactivated, and what is open."""

    created: Counts
    closed: Counts
    reactivated: Counts
    after: Counts

    @classmethod
    def from_json(cls, body: Any) -> Statistics:
        body = _mapping(body)
        delta = _mapping(body.get("delta"))
        return cls(
            created=Counts.from_table(delta.get("created")),
            closed=Counts.from_table(delta.get("closed")),
            reactivated=Counts.from_table(delta.get("reactivated")),
            after=Counts.from_table(body.get("after")),
        )


@dataclass(frozen=True, slots=True)
class ImportOutcome:
    """The 201 answer of import-scan."""

    engagement_id: int | None
    product_id: int | None
    test_id: int | None
    statistics: Statistics

    @classmethod
    def from_json(cls, body: Any) -> ImportOutcome:
        body = _mapping(body)

        def ident(name: str) -> int | None:
            value = body.get(name)
            return value if isinstance(value, int) and not isinstance(value, bool) else None

        return cls(
            engagement_id=ident("engagement_id"),
            product_id=ident("product_id"),
            test_id=ident("test") or ident("test_id"),
            statistics=Statistics.from_json(body.get("statistics")),
        )


@dataclass(frozen=True, slots=True)
class FindingRow:
    """One finding as the gate table shows it."""

    severity: Severity
    vulnerability_id: str
    component: str
    version: str
    title: str

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> FindingRow:
        ids = item.get("vulnerability_ids") or []
        first = ids[0].get("vulnerability_id") if ids and isinstance(ids[0], dict) else None
        return cls(
            severity=Severity.parse(str(item.get("severity") or "")) or Severity.INFO,
            vulnerability_id=str(first or item.get("vuln_id_from_tool") or ""),
            component=str(item.get("component_name") or ""),
            version=str(item.get("component_version") or ""),
            title=str(item.get("title") or ""),
        )


@dataclass(frozen=True, slots=True)
class RunFinding:
    """A finding of vulntrail's per-run view (`GET /engagements/{id}/findings/`)."""

    row: FindingRow
    change: str  # "new", "carried" or "resolved", relative to the previous run of the branch
    open_on_default_branch: bool  # the product-level status (`active`)
    triaged: bool  # false positive, out of scope or risk accepted

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> RunFinding:
        return cls(
            row=FindingRow.from_json(item),
            change=str(item.get("change") or ""),
            open_on_default_branch=item.get("active") is True,
            triaged=any(item.get(k) is True for k in ("false_p", "out_of_scope", "risk_accepted")),
        )
