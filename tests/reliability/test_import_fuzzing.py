"""Issue #8 part 3: hypothesis over the Trivy parser and the whole import path.

Over HTTP: Trivy-shaped reports with hostile values (NUL and control characters,
huge and negative numbers, long strings, wrong types) and byte-level corruptions of
a valid report are posted to the live server: each is imported (201) or refused
with a 4xx that names the problem and leaves the store unchanged; never a 5xx.

Parser only: the same generators, many more examples, no database. The default
run keeps counts small (tests/parsers already fuzzes the parser on every run);
VULNTRAIL_LONG_TESTS=1 runs thousands.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_support import (
    LONG,
    Tally,
    compact_report,
    post_import,
    rejection_problems,
    report_document,
    scaled,
    serving,
    store_state,
)

from conftest import LiveServer
from vulntrail.parsers.interface import ReportError
from vulntrail.parsers.trivy import parse_trivy

HTTP_EXAMPLES = scaled(30, 1500)
PARSER_EXAMPLES = scaled(300, 20_000)
FUZZ = settings(
    deadline=None,
    database=None,
    derandomize=not LONG,
    suppress_health_check=list(HealthCheck),
)

hostile_text = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        ["", "\x00", "a\x00b", "\u202e", "'; DROP TABLE findings;--", "<script>", "k" * 300]
    ),
)
hostile_int = st.one_of(st.integers(-(2**70), 2**70), st.sampled_from([2**31, 2**63, -1, 0]))
anything = st.one_of(
    st.none(), st.booleans(), hostile_int, st.floats(allow_nan=False), hostile_text
)


def report_strategy(
    text: st.SearchStrategy[Any], value: st.SearchStrategy[Any]
) -> st.SearchStrategy[dict[str, Any]]:
    """Trivy-shaped reports: `text` where Trivy writes strings, `value` where a field
    may hold anything (the type-correct generator passes text for both)."""
    number = (
        st.one_of(st.floats(allow_nan=False), value)
        if value is not text
        else st.floats(allow_nan=False, allow_infinity=False)
    )
    vulnerability = st.fixed_dictionaries(
        {"VulnerabilityID": value, "PkgName": text},
        optional={
            "InstalledVersion": text,
            "FixedVersion": text,
            "Severity": st.one_of(
                st.sampled_from(["CRITICAL", "HIGH", "LOW", "UNKNOWN", "bogus"]), value
            ),
            "Title": text,
            "Description": text,
            "PkgPath": text,
            "PkgID": text,
            "Status": text,
            "SeveritySource": text,
            "References": st.lists(text, max_size=3),
            "CweIDs": st.lists(value, max_size=2),
            "VendorSeverity": st.dictionaries(
                text, st.integers(0, 4) if value is text else hostile_int, max_size=2
            ),
            "CVSS": st.dictionaries(
                text,
                st.fixed_dictionaries({}, optional={"V3Score": number, "V3Vector": text}),
                max_size=2,
            ),
            "PublishedDate": st.one_of(st.just("2024-01-02T03:04:05Z"), value),
            "Layer": st.fixed_dictionaries({}, optional={"Digest": text, "DiffID": text}),
        },
    )
    line = st.integers(-(2**70), 2**70) if value is text else st.one_of(hostile_int, value)
    secret = st.fixed_dictionaries(
        {"RuleID": value},
        optional={
            "Severity": text,
            "Title": text,
            "StartLine": line,
            "EndLine": line,
            "Match": text,
            "Category": text,
        },
    )
    check = st.fixed_dictionaries(
        {"ID": value},
        optional={
            "AVDID": text,
            "Status": st.sampled_from(["FAIL", "PASS", "x"]),
            "Severity": text,
            "Title": text,
            "Message": text,
            "CauseMetadata": st.fixed_dictionaries(
                {}, optional={"StartLine": line, "Resource": text}
            ),
        },
    )
    license_ = st.fixed_dictionaries({"Name": value}, optional={"Severity": text, "PkgName": text})
    result = st.fixed_dictionaries(
        {"Target": value},
        optional={
            "Class": st.sampled_from(["os-pkgs", "lang-pkgs", "secret", "config", "license"]),
            "Type": text,
            "Vulnerabilities": st.one_of(st.none(), st.lists(vulnerability, max_size=4)),
            "Secrets": st.lists(secret, max_size=2),
            "Misconfigurations": st.lists(check, max_size=2),
            "Licenses": st.lists(license_, max_size=2),
        },
    )
    version = st.just(2) if value is text else st.one_of(st.just(2), value)
    results = (
        st.lists(result, max_size=3)
        if value is text
        else st.one_of(st.lists(result, max_size=3), value)
    )
    return st.fixed_dictionaries(
        {"SchemaVersion": version, "Results": results},
        optional={
            "ArtifactName": value,
            "ArtifactType": text,
            "Metadata": st.fixed_dictionaries(
                {},
                optional={"OS": st.fixed_dictionaries({}, optional={"Family": text, "Name": text})},
            ),
        },
    )


# Every field of the right type, with hostile values: these must import (or be refused by name).
typed_report = report_strategy(hostile_text, hostile_text)
# Any value anywhere: mostly refusals, which must name the problem and change nothing.
report = report_strategy(hostile_text, st.one_of(hostile_text, anything))


@st.composite
def corrupted(draw: st.DrawFn) -> bytes:
    """A valid report with a few bytes overwritten, sometimes cut short."""
    raw = bytearray(compact_report(3, description="d\u00e9j\u00e0 vu"))
    for _ in range(draw(st.integers(1, 4))):
        raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
    return bytes(raw[: draw(st.integers(0, len(raw)))] if draw(st.booleans()) else raw)


def check_parse_outcome(body: bytes) -> None:
    """parse_trivy returns a report whose findings serialize, or raises ReportError."""
    try:
        parsed = parse_trivy(body)
    except ReportError as error:
        assert str(error)
        return
    for finding in parsed.findings:
        assert finding.rule_id
    msgspec.json.encode(parsed)


def _encode(document: Any, ascii_only: bool) -> bytes:
    return json.dumps(document, ensure_ascii=ascii_only).encode()


def test_hostile_reports_posted_are_imported_or_refused_by_name(live_server: LiveServer) -> None:
    tally = Tally(f"import fuzzing [{live_server.database_url.split(':')[0]}]")
    with live_server.client() as client:

        @settings(FUZZ, max_examples=HTTP_EXAMPLES)
        @given(
            st.one_of(
                st.builds(_encode, typed_report, st.booleans()),
                st.builds(_encode, typed_report, st.booleans()),
                st.builds(_encode, report, st.booleans()),
                corrupted(),
            )
        )
        def post(body: bytes) -> None:
            tally.add("cases")
            before = store_state(live_server.database_url)
            response = post_import(client, body, engagement_name=f"CI-main-{tally.counts['cases']}")
            assert response.status_code < 500, response.text[:300]
            if response.status_code == 201:
                tally.add("imported")
                return
            tally.add("refused")
            # Field errors name "file"; a value the database cannot hold is a "detail".
            problems = rejection_problems(response, ("file", "detail"))
            assert not problems, problems
            assert store_state(live_server.database_url) == before

        post()
    tally.report()


@settings(FUZZ, max_examples=PARSER_EXAMPLES)
@given(st.one_of(typed_report, report), st.booleans())
def test_hostile_trivy_shaped_json_parses_or_is_a_report_error(
    document: Any, ascii_only: bool
) -> None:
    check_parse_outcome(_encode(document, ascii_only))


@settings(FUZZ, max_examples=PARSER_EXAMPLES)
@given(corrupted())
def test_corrupted_report_bytes_parse_or_are_a_report_error(body: bytes) -> None:
    check_parse_outcome(body)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_cwe_id_with_superscript_digits_does_not_break_the_import(
    live_server: LiveServer,
) -> None:
    document = report_document(1)
    document["Results"][0]["Vulnerabilities"][0]["CweIDs"] = ["CWE-\u00b9"]
    with live_server.client() as client:
        response = post_import(client, json.dumps(document).encode())
        assert serving(client)
    assert response.status_code == 201, response.text[:300]
