"""`--fail-on`: which findings fail the pipeline, and the table that shows them.

A rule is `new:<severity>` (the import introduced findings at that severity
relative to the previous run of the default branch) or `open:<severity>` (the
product has active findings at that severity). The gate fails when any rule
matches at least one finding; triaged findings (false positive, out of scope,
risk accepted) never count.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from vulntrail.client.errors import UsageError
from vulntrail.client.model import FindingRow, RunFinding, Severity, Statistics

TABLE_ROWS = 20


class Scope(StrEnum):
    NEW = "new"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class Rule:
    scope: Scope
    severity: Severity

    def __str__(self) -> str:
        return f"{self.scope}:{self.severity.key}"


@dataclass(frozen=True, slots=True)
class Verdict:
    """One rule's outcome; `rows` may hold fewer findings than `count` (or none)."""

    rule: Rule
    count: int
    rows: tuple[FindingRow, ...] = ()

    @property
    def failed(self) -> bool:
        return self.count > 0


def parse_rules(text: str | None) -> tuple[Rule, ...]:
    """`new:critical,new:high,open:critical` → rules; the error names the bad part."""
    rules: list[Rule] = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        scope_text, _, severity_text = part.partition(":")
        scope = next((s for s in Scope if s.value == scope_text.strip().lower()), None)
        severity = Severity.parse(severity_text)
        if scope is None or severity is None:
            raise UsageError(
                f"--fail-on {part!r}: use new:<severity> or open:<severity>, severity one of "
                "critical, high, medium, low, info (several separated by commas)"
            )
        rule = Rule(scope, severity)
        if rule not in rules:
            rules.append(rule)
    return tuple(rules)


def introduced(run: Iterable[RunFinding], *, on_default_branch: bool) -> list[FindingRow]:
    """The run's findings that are new relative to the default branch.

    On the default branch: new since its previous run (first seen, or back again).
    On another branch: present in this run but not open on the default branch, so a
    feature branch is judged against main rather than against its own last run.
    """
    rows: list[FindingRow] = []
    for finding in run:
        if finding.triaged or finding.change == "resolved":
            continue
        if on_default_branch:
            is_new = finding.change == "new"
        else:
            is_new = not finding.open_on_default_branch
        if is_new:
            rows.append(finding.row)
    return rows


def new_verdict(rule: Rule, rows: Sequence[FindingRow] | None, stats: Statistics) -> Verdict:
    """A `new:` rule from the run's findings, else (DefectDojo) from the statistics alone.

    The run's findings are the better source: a retried import whose first answer
    was lost reports an empty delta, but the run still shows what it introduced.
    """
    if rows is not None:
        matching = tuple(r for r in rows if r.severity is rule.severity)
        return Verdict(rule, len(matching), matching)
    count = stats.created[rule.severity] + stats.reactivated[rule.severity]
    return Verdict(rule, count)


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def table(rows: Sequence[FindingRow], *, limit: int = TABLE_ROWS) -> list[str]:
    """A short fixed-width table, most severe first, at most `limit` rows."""
    ordered = sorted(rows, key=lambda r: (r.severity.rank, r.vulnerability_id, r.component))
    lines = [f"{'SEVERITY':<9} {'ID':<20} {'PACKAGE':<28} {'VERSION':<16} TITLE"]
    for row in ordered[:limit]:
        lines.append(
            f"{row.severity.label:<9} {_cell(row.vulnerability_id, 20):<20} "
            f"{_cell(row.component, 28):<28} {_cell(row.version, 16):<16} {_cell(row.title, 60)}"
        )
    if len(ordered) > limit:
        lines.append(f"… and {len(ordered) - limit} more")
    return lines


def render(verdicts: Sequence[Verdict]) -> list[str]:
    """The gate's lines: one per rule, with the findings of the failed ones."""
    lines: list[str] = []
    for verdict in verdicts:
        state = "FAILED" if verdict.failed else "passed"
        lines.append(f"gate {verdict.rule}: {state} ({verdict.count} finding(s))")
        if verdict.failed and verdict.rows:
            lines.extend("  " + line for line in table(verdict.rows))
    return lines
