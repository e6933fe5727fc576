"""Summary text, job-summary Markdown, JUnit XML, and what keeps secrets out of them."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from client_support import Reply, StubServer, created_body, gitlab_vars, isolate_env, run_import

from vulntrail.client import gate, junit, summary
from vulntrail.client.ci_env import ImportTarget
from vulntrail.client.credentials import Credential
from vulntrail.client.errors import ExitCode
from vulntrail.client.importer import Outputs, publish
from vulntrail.client.masking import MASK, Masker
from vulntrail.client.model import FindingRow, ImportOutcome, Severity

TARGET = ImportTarget("orchestrator-server", "CI-main-5", "main", "abc12345", "5")


def _summary(
    *verdicts: gate.Verdict, link: str | None = "http://vt.test/engagements/4"
) -> summary.Summary:
    outcome = ImportOutcome.from_json(created_body(critical_created=2, engagement_id=4))
    return summary.Summary(TARGET, outcome, link, verdicts)


def test_the_summary_counts_created_resolved_reopened_and_open_by_severity() -> None:
    lines = summary.text(_summary())
    assert lines == [
        "imported into orchestrator-server / CI-main-5 (branch main, commit abc12345)",
        "  created 2, resolved 0, reopened 0",
        "  open in this run: Critical 2, High 0, Medium 0, Low 0, Info 0 (total 2)",
        "  engagement: http://vt.test/engagements/4",
    ]


def test_junit_has_one_case_for_the_import_and_one_per_rule() -> None:
    row = FindingRow(Severity.CRITICAL, "CVE-2024-9", "openssl", "3.0.1", "bad")
    failed = gate.Verdict(gate.parse_rules("new:critical")[0], 1, (row,))
    passed = gate.Verdict(gate.parse_rules("open:high")[0], 0)
    root = ET.fromstring(junit.render(_summary(failed, passed)))
    cases = root.findall("testsuite/testcase")
    assert [c.get("name") for c in cases] == [
        "import CI-main-5",
        "gate new:critical",
        "gate open:high",
    ]
    assert [c.find("failure") is not None for c in cases] == [False, True, False]
    assert root.get("failures") == "1"


def test_markdown_links_the_engagement_and_counts_by_severity() -> None:
    text = summary.markdown(_summary())
    assert "## vulntrail: orchestrator-server / [CI-main-5](http://vt.test/engagements/4)" in text
    assert "| Created | 2 | 0 | 0 | 0 | 0 | 2 |" in text


def test_gitlab_annotations_carry_the_engagement_link() -> None:
    data = json.loads(summary.gitlab_annotations(_summary()))
    assert data == {
        "vulntrail": [
            {
                "external_link": {
                    "label": "vulntrail: orchestrator-server / CI-main-5",
                    "url": "http://vt.test/engagements/4",
                }
            }
        ]
    }


def test_files_are_masked_and_an_unwritable_one_is_reported(tmp_path: Path) -> None:
    masker = Masker()
    masker.register("orchestrator-server")  # pretend the product name were a secret
    outputs = Outputs(job_summary=tmp_path / "s.md", junit=tmp_path / "missing-dir" / "j.xml")
    problems = publish(_summary(), outputs, {}, masker)
    assert problems == [
        f"cannot write {str(tmp_path / 'missing-dir' / 'j.xml')!r}: No such file or directory"
    ]
    text = (tmp_path / "s.md").read_text()
    assert "orchestrator-server" not in text and MASK in text


def test_the_masker_hides_whole_secrets_and_ignores_tiny_values() -> None:
    masker = Masker()
    masker.register("abc")
    masker.register("s3cr3t-token")
    masker.register("s3cr3t-token-longer")
    assert masker.mask("abc s3cr3t-token-longer s3cr3t-token") == f"abc {MASK} {MASK}"


def test_a_credential_never_shows_its_secret_in_a_repr() -> None:
    credential = Credential("Token", "vtr_very-secret-value", "VULNTRAIL_TOKEN")
    assert "vtr_very-secret-value" not in repr(credential)
    assert credential.header == "Token vtr_very-secret-value"


def test_an_unwritable_junit_path_exits_2_after_a_successful_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_env(monkeypatch)
    report = tmp_path / "trivy.json"
    report.write_text('{"SchemaVersion": 2, "Results": []}')
    with StubServer([Reply(201, created_body())]) as server:
        env = {
            **gitlab_vars(),
            "VULNTRAIL_URL": server.url,
            "VULNTRAIL_TOKEN": "vtr_token-0123456789",
        }
        result = run_import([str(report), "--junit", str(tmp_path / "no" / "j.xml")], env)
    assert result.exit_code == ExitCode.USAGE
    assert "imported into server / CI-main-1001" in result.stdout
    assert "error [configuration error]: cannot write" in result.stderr
