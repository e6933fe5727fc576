"""--fail-on parsing, which findings count as introduced, and the table that shows them."""

from __future__ import annotations

import pytest

from vulntrail.client import gate
from vulntrail.client.errors import UsageError
from vulntrail.client.model import FindingRow, RunFinding, Severity, Statistics


def _run(
    change: str, severity: str = "Critical", *, open_on_main: bool = True, **flags: bool
) -> RunFinding:
    return RunFinding.from_json(
        {
            "severity": severity,
            "title": f"{change} issue",
            "component_name": "openssl",
            "component_version": "3.0.1",
            "vulnerability_ids": [{"vulnerability_id": f"CVE-2024-{change}"}],
            "change": change,
            "active": open_on_main,
            **flags,
        }
    )


def test_rules_parse_case_insensitively_and_without_duplicates() -> None:
    rules = gate.parse_rules(" new:Critical, NEW:high,open:critical,new:critical ")
    assert [str(r) for r in rules] == ["new:critical", "new:high", "open:critical"]


@pytest.mark.parametrize("text", ["new:severe", "fresh:high", "critical", "new:"])
def test_a_bad_rule_is_a_usage_error_that_quotes_it(text: str) -> None:
    with pytest.raises(UsageError) as caught:
        gate.parse_rules(text)
    assert repr(text) in caught.value.message


def test_on_the_default_branch_new_means_not_in_the_previous_run() -> None:
    rows = gate.introduced([_run("new"), _run("carried"), _run("resolved")], on_default_branch=True)
    assert [r.vulnerability_id for r in rows] == ["CVE-2024-new"]


def test_on_another_branch_new_means_not_open_on_the_default_branch() -> None:
    run = [
        _run("new", open_on_main=True),  # new on the branch, but main has it already
        _run("carried", open_on_main=False),  # the branch carries it, main does not have it
    ]
    rows = gate.introduced(run, on_default_branch=False)
    assert [r.vulnerability_id for r in rows] == ["CVE-2024-carried"]


def test_triaged_findings_never_count() -> None:
    run = [_run("new", false_p=True), _run("new", risk_accepted=True, open_on_main=False)]
    assert gate.introduced(run, on_default_branch=True) == []


def test_without_the_run_view_the_statistics_decide() -> None:
    stats = Statistics.from_json(
        {
            "delta": {
                "created": {"critical": {"active": 1}},
                "reactivated": {"critical": {"active": 2}},
            }
        }
    )
    verdict = gate.new_verdict(gate.parse_rules("new:critical")[0], None, stats)
    assert (verdict.count, verdict.rows, verdict.failed) == (3, (), True)
    assert not gate.new_verdict(gate.parse_rules("new:high")[0], None, stats).failed


def test_the_table_lists_the_most_severe_first_and_stays_short() -> None:
    rows = [FindingRow(Severity.HIGH, f"CVE-{i}", "pkg", "1", "t") for i in range(25)] + [
        FindingRow(Severity.CRITICAL, "CVE-X", "openssl", "3.0.1", "bad " * 40)
    ]
    lines = gate.table(rows)
    assert lines[0].split() == ["SEVERITY", "ID", "PACKAGE", "VERSION", "TITLE"]
    assert lines[1].startswith("Critical  CVE-X")
    assert lines[1].endswith("…")
    assert lines[-1] == "… and 6 more"
    assert len(lines) == 1 + gate.TABLE_ROWS + 1
