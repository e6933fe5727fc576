"""CSV, JSON and SARIF exports: pure formatting, streamed in chunks, SARIF 2.1.0 shaped."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import jsonschema_rs
from web_support import SARIF_MINIMAL_SCHEMA

from vulntrail import exports


def _record(n: int, **changes: object) -> dict[str, object]:
    record: dict[str, object] = {
        "id": n,
        "product": "orchestrator-server",
        "engagement": "CI-main-7",
        "vulnerability_id": f"CVE-2024-{1000 + n % 3}",
        "title": f"issue {n}",
        "severity": ["Critical", "High", "Medium", "Low", "Info"][n % 5],
        "status": "new",
        "package": "openssl",
        "installed_version": "3.0.1",
        "fixed_version": "3.0.9" if n % 2 else "",
        "kind": "vulnerability",
        "location": "usr/lib/python3/site-packages/x (1).dist-info" if n % 2 else "os:debian",
        "cvss_score": 9.8 if n % 2 else None,
        "cvss_vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "cwes": ["CWE-79"],
        "first_seen": "2024-05-01T00:00:00+00:00",
        "url": f"http://vt.test/findings/{n}",
        "description": 'line one\nline two, with "quotes"',
        "references": ["https://nvd.test/x", "javascript:alert(1)"],
    }
    record.update(changes)
    return record


def _records(count: int) -> Iterator[dict[str, object]]:
    return (_record(n) for n in range(count))


def test_csv_has_a_header_and_one_row_per_finding_and_survives_newlines_and_quotes():
    text = "".join(exports.csv_chunks(_records(450)))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 450
    assert list(rows[0]) == list(exports.COLUMNS)
    assert rows[1]["description"] == 'line one\nline two, with "quotes"'
    assert rows[0]["cwes"] == "CWE-79"


def test_csv_defuses_spreadsheet_formulas_from_report_text():
    text = "".join(
        exports.csv_chunks([_record(1, title='=HYPERLINK("http://evil")', package="@SUM(1)")])
    )
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["title"].startswith("'=")
    assert row["package"] == "'@SUM(1)"


def test_exports_are_streamed_in_batches_not_built_whole():
    consumed = 0

    def counting() -> Iterator[dict[str, object]]:
        nonlocal consumed
        for n in range(10 * exports.BATCH):
            consumed += 1
            yield _record(n)

    for make in (
        lambda r: exports.csv_chunks(r),
        lambda r: exports.json_chunks(r, {}),
        lambda r: exports.sarif_chunks(r, tool_version="1"),
    ):
        consumed = 0
        chunks = make(counting())
        next(chunks)
        next(chunks)
        assert consumed <= exports.BATCH  # only the first batch was pulled
        list(chunks)
        assert consumed == 10 * exports.BATCH


def test_json_export_parses_and_counts():
    data = json.loads("".join(exports.json_chunks(_records(401), {"product": "p"})))
    assert data["count"] == 401 and len(data["results"]) == 401
    assert data["view"] == {"product": "p"}
    assert data["results"][3]["references"] == ["https://nvd.test/x", "javascript:alert(1)"]
    assert json.loads("".join(exports.json_chunks([], {}))) == {
        "view": {},
        "results": [],
        "count": 0,
    }


def test_sarif_export_is_valid_sarif_2_1_0_with_one_rule_per_vulnerability():
    log = json.loads(
        "".join(
            exports.sarif_chunks(
                _records(20), tool_version="0.1.0", information_uri="http://vt.test"
            )
        )
    )
    errors = [e.message for e in jsonschema_rs.validator_for(SARIF_MINIMAL_SCHEMA).iter_errors(log)]
    assert errors == []
    run = log["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == ["CVE-2024-1000", "CVE-2024-1001", "CVE-2024-1002"]
    assert len(run["results"]) == 20
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
    first = run["results"][0]
    assert first["level"] == "error" and first["message"]["text"].startswith(
        "CVE-2024-1000 in openssl"
    )
    assert first["locations"][0]["logicalLocations"][0]["name"] == "openssl@3.0.1"
    assert run["results"][1]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == (
        "usr/lib/python3/site-packages/x%20%281%29.dist-info"
    )
    assert rules[1]["properties"]["security-severity"] == "9.8"
    assert rules[1]["helpUri"] == "https://nvd.test/x"  # never the javascript: reference
    assert [exports.sarif_level(s) for s in ("Critical", "High", "Medium", "Low", "Info")] == [
        "error",
        "error",
        "warning",
        "note",
        "note",
    ]


def test_empty_sarif_is_still_a_valid_log():
    log = json.loads("".join(exports.sarif_chunks([], tool_version="1")))
    assert log["runs"][0]["results"] == [] and log["runs"][0]["tool"]["driver"]["rules"] == []
    assert jsonschema_rs.validator_for(SARIF_MINIMAL_SCHEMA).is_valid(log)
