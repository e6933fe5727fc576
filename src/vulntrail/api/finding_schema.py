"""A finding as DefectDojo's API shows it, plus vulntrail's trail fields."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from vulntrail import clock, sla
from vulntrail.parsers.interface import Severity
from vulntrail.store.models import Finding, Occurrence


def _iso(value: datetime | None) -> str | None:
    return clock.aware(value).isoformat() if value is not None else None


def primary_cvss(attrs: dict[str, Any]) -> tuple[str | None, float | None]:
    """The CVSS v3 vector and score of the source Trivy chose (SeveritySource), else the first."""
    blocks = attrs.get("cvss") or []
    preferred = attrs.get("severity_source") or ""
    ordered = sorted(blocks, key=lambda block: block.get("source") != preferred)
    for block in ordered:
        if block.get("v3_vector") or block.get("v3_score") is not None:
            return block.get("v3_vector") or None, block.get("v3_score")
    return None, None


def finding_json(
    finding: Finding,
    occurrence: Occurrence | None,
    *,
    today: date,
    newest: tuple[int, Any] | None,
    sla_days: int | None = None,
) -> dict[str, Any]:
    attrs: dict[str, Any] = occurrence.attrs if occurrence is not None else {}
    accepted = finding.risk_accepted and (
        finding.risk_accepted_until is None or finding.risk_accepted_until >= today
    )
    active = finding.present and not (finding.false_p or finding.out_of_scope or accepted)
    vector, score = primary_cvss(attrs)
    last_seen_engagement = finding.last_seen_engagement_id
    last_seen = _iso(finding.last_seen_at)
    if finding.present and newest is not None:
        last_seen_engagement, last_seen = newest[0], _iso(newest[1])
    ids = [finding.rule_id, *[a for a in attrs.get("aliases", []) if a != finding.rule_id]]
    return {
        "id": finding.id,
        "title": finding.title or finding.rule_id,
        "severity": Severity(finding.severity).label,
        "description": attrs.get("description", ""),
        "mitigation": (
            f"Upgrade to {finding.fixed_version}"
            if finding.fixed_version
            else attrs.get("resolution", "")
        ),
        "references": "\n".join(attrs.get("references", [])),
        "active": active,
        "verified": finding.verified,
        "is_mitigated": finding.on_default_branch and not finding.present,
        "mitigated": _iso(finding.mitigated_at),
        "false_p": finding.false_p,
        "risk_accepted": bool(accepted),
        "risk_accepted_until": finding.risk_accepted_until.isoformat()
        if finding.risk_accepted_until
        else None,
        "out_of_scope": finding.out_of_scope,
        "duplicate": False,
        "date": clock.aware(finding.first_seen_at).date().isoformat()
        if finding.first_seen_at
        else None,
        "component_name": finding.package_name or None,
        "component_version": finding.installed_version or None,
        "file_path": attrs.get("package_path") or attrs.get("target") or None,
        "line": attrs.get("start_line"),
        "cwe": finding.cwe,
        "cvssv3": vector,
        "cvssv3_score": score,
        "vulnerability_ids": [{"vulnerability_id": vid} for vid in ids if vid],
        "test": finding.first_test_id,
        "found_by": [],
        "hash_code": finding.identity.hex(),
        "tags": [t for t in (attrs.get("result_type"), attrs.get("result_class")) if t],
        "created": _iso(finding.created),
        "last_status_update": _iso(finding.last_status_update),
        "product": finding.product_id,
        # vulntrail's trail fields
        "kind": finding.kind,
        "location": finding.location,
        "target": attrs.get("target") or None,
        "purl": attrs.get("purl") or None,
        "fixed_version": finding.fixed_version or None,
        "status": attrs.get("status") or None,
        "first_seen": _iso(finding.first_seen_at),
        "first_seen_engagement": finding.first_seen_engagement_id,
        "last_seen": last_seen,
        "last_seen_engagement": last_seen_engagement,
        "mitigated_engagement": finding.mitigated_engagement_id,
        "reopen_count": finding.reopen_count,
        "on_default_branch": finding.on_default_branch,
        "triage_reason": finding.triage_reason or None,
        "owner": finding.owner or None,
        **_sla(finding, active, sla_days, today),
    }


def _sla(finding: Finding, active: bool, days: int | None, today: date) -> dict[str, Any]:
    """DefectDojo's SLA fields; the clock runs from first seen on the default branch."""
    start = clock.aware(finding.first_seen_at) if finding.first_seen_at else None
    due = sla.due_date(start, days)
    left = sla.days_left(due, today)
    return {
        "sla_start_date": start.date().isoformat() if start else None,
        "sla_expiration_date": due.isoformat() if due else None,
        "sla_days_remaining": left,
        "outside_of_sla": bool(active and left is not None and left < 0),
    }
