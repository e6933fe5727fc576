"""The notification events and their payloads: JSON-ready dicts built from plain values.

- `finding.new`: an import introduced Critical/High findings on a product's default
  branch (new, or back after being resolved). One message per import and target,
  listing the findings.
- `sla.breach_soon`: an active finding's SLA falls due within `VULNTRAIL_SLA_WARN_DAYS`
  days. Once per finding and due date.
- `risk_acceptance.expiring`: the risk acceptance of an open finding ends within
  `VULNTRAIL_ACCEPTANCE_WARN_DAYS` days. Once per finding and expiry date.

"Once per …" is the outbox's dedup key (see :func:`dedup_key`). Pure functions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from vulntrail.parsers.interface import Severity

FINDING_NEW = "finding.new"
SLA_BREACH_SOON = "sla.breach_soon"
ACCEPTANCE_EXPIRING = "risk_acceptance.expiring"
EVENTS = (FINDING_NEW, SLA_BREACH_SOON, ACCEPTANCE_EXPIRING)
# A first import can introduce thousands of findings: the payload lists the worst ones
# and counts all of them.
MAX_LISTED = 200


@dataclass(frozen=True, slots=True)
class ProductRef:
    id: int
    name: str


@dataclass(frozen=True, slots=True)
class RunRef:
    """The engagement (pipeline run) an import went into."""

    id: int
    name: str
    branch: str
    commit_hash: str = ""
    build_id: str = ""


@dataclass(frozen=True, slots=True)
class FindingInfo:
    id: int
    title: str
    severity: int
    rule_id: str
    package_name: str = ""
    installed_version: str = ""
    fixed_version: str = ""


def dedup_key(event: str, finding_id: int, day: date) -> str:
    """Once per finding and date: a new due date or expiry date is a new event."""
    return f"{event}:{finding_id}:{day.isoformat()}"


def finding_json(finding: FindingInfo) -> dict[str, Any]:
    return {
        "id": finding.id,
        "title": finding.title,
        "severity": Severity(finding.severity).label,
        "vulnerability_id": finding.rule_id,
        "component_name": finding.package_name,
        "component_version": finding.installed_version,
        "fixed_version": finding.fixed_version,
    }


def product_json(product: ProductRef) -> dict[str, Any]:
    return {"id": product.id, "name": product.name}


def finding_new(
    product: ProductRef,
    run: RunRef,
    listed: Sequence[FindingInfo],
    counts: Mapping[int, int],
) -> dict[str, Any]:
    """`listed`: the findings to show (at most MAX_LISTED); `counts`: all of them by severity."""
    ordered = sorted(listed, key=lambda f: (-f.severity, f.rule_id, f.id))[:MAX_LISTED]
    total = sum(counts.values())
    return {
        "product": product_json(product),
        "engagement": {
            "id": run.id,
            "name": run.name,
            "branch": run.branch,
            "commit_hash": run.commit_hash,
            "build_id": run.build_id,
        },
        "counts": {Severity(s).label: n for s, n in sorted(counts.items(), reverse=True) if n},
        "total": total,
        "truncated": total > len(ordered),
        "findings": [finding_json(f) for f in ordered],
    }


def sla_breach_soon(
    product: ProductRef, finding: FindingInfo, due: date, days_left: int
) -> dict[str, Any]:
    return {
        "product": product_json(product),
        "finding": finding_json(finding),
        "sla_expiration_date": due.isoformat(),
        "days_remaining": days_left,
    }


def acceptance_expiring(
    product: ProductRef, finding: FindingInfo, until: date, days_left: int, reason: str
) -> dict[str, Any]:
    return {
        "product": product_json(product),
        "finding": finding_json(finding),
        "risk_accepted_until": until.isoformat(),
        "days_remaining": days_left,
        "reason": reason,
    }
