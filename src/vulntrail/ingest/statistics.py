"""DefectDojo's import statistics: counts per severity and per status.

`before`/`after` count the findings of the test before and after the import;
`delta` counts what the import did on the track, relative to the previous run:
created (never seen on this track before), reactivated (seen before, absent from
the previous run), untouched (present in the previous run too) and closed
(present in the previous run, absent now).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from vulntrail.parsers.interface import Severity

STATUS_FIELDS = (
    "active",
    "verified",
    "duplicate",
    "false_p",
    "out_of_scope",
    "is_mitigated",
    "risk_accepted",
    "total",
)
SEVERITY_KEYS = ("info", "low", "medium", "high", "critical")
DELTA_ACTIONS = ("created", "closed", "reactivated", "untouched")


@dataclass(frozen=True, slots=True)
class Counted:
    """One finding as the statistics see it."""

    severity: int
    active: bool
    verified: bool = False
    false_p: bool = False
    out_of_scope: bool = False
    risk_accepted: bool = False
    is_mitigated: bool = False


def empty() -> dict[str, dict[str, int]]:
    return {key: dict.fromkeys(STATUS_FIELDS, 0) for key in (*SEVERITY_KEYS, "total")}


def count(findings: Iterable[Counted]) -> dict[str, dict[str, int]]:
    table = empty()
    for item in findings:
        row = table[SEVERITY_KEYS[Severity(item.severity)]]
        for name, flag in (
            ("active", item.active),
            ("verified", item.verified),
            ("false_p", item.false_p),
            ("out_of_scope", item.out_of_scope),
            ("is_mitigated", item.is_mitigated),
            ("risk_accepted", item.risk_accepted),
            ("total", True),
        ):
            if flag:
                row[name] += 1
                table["total"][name] += 1
    return table


def statistics(
    before: Iterable[Counted], after: Iterable[Counted], delta: dict[str, Iterable[Counted]]
) -> dict[str, Any]:
    return {
        "before": count(before),
        "delta": {action: count(delta.get(action, ())) for action in DELTA_ACTIONS},
        "after": count(after),
    }


def unchanged(stored: dict[str, Any]) -> dict[str, Any]:
    """The statistics of a retry: the stored `after`, and nothing done."""
    after = stored.get("after") or empty()
    return {
        "before": after,
        "delta": {action: empty() for action in DELTA_ACTIONS},
        "after": after,
    }
