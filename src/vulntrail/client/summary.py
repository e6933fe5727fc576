"""The import's summary as terminal text, job-summary Markdown and GitLab annotations.

Counts come from the import's statistics, which vulntrail and DefectDojo both
send: created, resolved (closed), reopened (reactivated), and the active findings
of the run by severity.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from vulntrail.client.ci_env import ImportTarget
from vulntrail.client.gate import Verdict, table
from vulntrail.client.model import ImportOutcome, Severity


@dataclass(frozen=True, slots=True)
class Summary:
    target: ImportTarget
    outcome: ImportOutcome
    link: str | None
    verdicts: tuple[Verdict, ...] = ()

    @property
    def gate_failed(self) -> bool:
        return any(v.failed for v in self.verdicts)


def _by_severity(summary: Summary) -> str:
    after = summary.outcome.statistics.after
    return ", ".join(f"{s.label} {after[s]}" for s in Severity)


def text(summary: Summary) -> list[str]:
    stats = summary.outcome.statistics
    target = summary.target
    lines = [
        f"imported into {target.product} / {target.engagement}"
        f" (branch {target.branch or '-'}, commit {target.commit or '-'})",
        f"  created {stats.created.total}, resolved {stats.closed.total}, "
        f"reopened {stats.reactivated.total}",
        f"  open in this run: {_by_severity(summary)} (total {stats.after.total})",
    ]
    if summary.link:
        lines.append(f"  engagement: {summary.link}")
    return lines


def _md_escape(value: str) -> str:
    return value.replace("|", "\\|").replace("\n", " ")


def markdown(summary: Summary) -> str:
    """A GitHub job summary / GitLab artifact: counts, link and the gate's findings."""
    stats = summary.outcome.statistics
    target = summary.target
    head = f"[{target.engagement}]({summary.link})" if summary.link else target.engagement
    out = [
        f"## vulntrail: {_md_escape(target.product)} / {head}",
        "",
        f"Branch `{target.branch or '-'}`, commit `{target.commit or '-'}`.",
        "",
        "| | " + " | ".join(s.label for s in Severity) + " | Total |",
        "|---|" + "---:|" * (len(Severity) + 1),
    ]
    for name, counts in (
        ("Created", stats.created),
        ("Resolved", stats.closed),
        ("Reopened", stats.reactivated),
        ("Open in this run", stats.after),
    ):
        cells = " | ".join(str(counts[s]) for s in Severity)
        out.append(f"| {name} | {cells} | {counts.total} |")
    out.append("")
    out.extend(_markdown_gate(summary.verdicts))
    return "\n".join(out) + "\n"


def _markdown_gate(verdicts: Sequence[Verdict]) -> list[str]:
    out: list[str] = []
    for verdict in verdicts:
        mark = "❌" if verdict.failed else "✅"
        out.append(f"- {mark} gate `{verdict.rule}`: {verdict.count} finding(s)")
    # A finding can match two rules (new:critical and open:critical): list it once.
    failing = list(dict.fromkeys(row for v in verdicts if v.failed for row in v.rows))
    if failing:
        out += ["", "```", *table(failing), "```"]
    return [*out, ""] if out else []


def gitlab_annotations(summary: Summary) -> str:
    """GitLab's `artifacts:reports:annotations`: a link to the engagement on the job page."""
    links = []
    if summary.link:
        label = f"vulntrail: {summary.target.product} / {summary.target.engagement}"
        links.append({"external_link": {"label": label, "url": summary.link}})
    return json.dumps({"vulntrail": links}, indent=2) + "\n"
