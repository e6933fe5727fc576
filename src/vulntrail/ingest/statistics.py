"""DefectDojo's import statistics: counts per severity and per status.

`before`/`after` count the findings of the test before and after the import;
`delta` counts what the import did on the track, relative to the previous run:
created (never seen on this track before), reactivated (seen before, absent from
the previous run), untouched (present in the previous run too) and closed
(present in the previous run, absent now).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

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


# A finding as the statistics see it: (severity, status bits).
Counted = tuple[int, int]
ACTIVE, VERIFIED, FALSE_P, OUT_OF_SCOPE, IS_MITIGATED, RISK_ACCEPTED = (1, 2, 4, 8, 16, 32)
_BITS = (
    ("active", ACTIVE),
    ("verified", VERIFIED),
    ("false_p", FALSE_P),
    ("out_of_scope", OUT_OF_SCOPE),
    ("is_mitigated", IS_MITIGATED),
    ("risk_accepted", RISK_ACCEPTED),
)


def empty() -> dict[str, dict[str, int]]:
    return {key: dict.fromkeys(STATUS_FIELDS, 0) for key in (*SEVERITY_KEYS, "total")}


def count(findings: Iterable[Counted]) -> dict[str, dict[str, int]]:
    table = empty()
    for (severity, bits), number in Counter(findings).items():
        row = table[SEVERITY_KEYS[severity]]
        for name, bit in (*_BITS, ("total", 0)):
            if bits & bit or name == "total":
                row[name] += number
                table["total"][name] += number
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
