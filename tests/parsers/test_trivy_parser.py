"""The Trivy parser: every report shape, field mapping, the real corpus, and hostile input.

No database: the parser is bytes in, plain values out.
"""

from __future__ import annotations

import functools
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vulntrail.parsers.interface import (
    Cvss,
    FindingKind,
    ParsedFinding,
    ParsedReport,
    ReportError,
    Severity,
)
from vulntrail.parsers.trivy import UNKNOWN_ID, canonical_check_id, parse_trivy

CORPUS = Path(
    os.environ.get(
        "VULNTRAIL_CORPUS",
        Path(__file__).resolve().parents[2] / ".." / "shared" / "corpus" / "trivy",
    )
)
CORPUS_FILES = sorted(path.name for path in CORPUS.glob("*.json")) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(not CORPUS_FILES, reason=f"no Trivy corpus at {CORPUS}")

KINDS = (
    FindingKind.VULNERABILITY,
    FindingKind.MISCONFIGURATION,
    FindingKind.SECRET,
    FindingKind.LICENSE,
)

# Files SUMMARY.txt has no row for, with counts checked by hand.
COUNTS_NOT_IN_SUMMARY = {
    # Added to the corpus after SUMMARY.txt was generated (SOURCES.md lists it): a
    # Dockerfile with two failed checks (DS-0002, DS-0026) and two AWS secrets.
    "local_trivy-0.76_fs-secret-misconfig.json": (0, 2, 2, 0),
}


def encode(document: Any) -> bytes:
    return json.dumps(document).encode()


def parse(document: Any) -> ParsedReport:
    return parse_trivy(encode(document))


def only(report: ParsedReport) -> ParsedFinding:
    assert len(report.findings) == 1
    return report.findings[0]


def kind_counts(report: ParsedReport) -> tuple[int, ...]:
    counts = Counter(finding.kind for finding in report.findings)
    return tuple(counts[kind] for kind in KINDS)


@functools.cache
def summary_counts() -> dict[str, tuple[int, ...]]:
    """SUMMARY.txt rows: file | bytes | valid | top | shape | schema | results | vulns |
    misconf | secrets | licenses | packages."""
    rows: dict[str, tuple[int, ...]] = {}
    for line in (CORPUS / "SUMMARY.txt").read_text().splitlines():
        cells = [cell.strip() for cell in line.split("|")]
        if len(cells) == 12 and cells[0].endswith(".json"):
            rows[cells[0]] = tuple(int(cell) for cell in cells[7:11])
    return rows


# --- the corpus ---------------------------------------------------------------------


@needs_corpus
@pytest.mark.parametrize("name", CORPUS_FILES)
def test_corpus_report_parses_with_the_summarys_counts(name: str) -> None:
    expected = {**summary_counts(), **COUNTS_NOT_IN_SUMMARY}.get(name)
    assert expected is not None, f"{name} has no row in SUMMARY.txt"
    report = parse_trivy((CORPUS / name).read_bytes())
    assert kind_counts(report) == expected


# --- format detection ---------------------------------------------------------------


def test_null_report_has_no_findings() -> None:
    assert parse_trivy(b"null\n") == ParsedReport(format="trivy-null")


def test_empty_legacy_list_is_a_legacy_report() -> None:
    assert parse_trivy(b"[]") == ParsedReport(format="trivy-legacy")


def test_legacy_list_of_results_is_read() -> None:
    report = parse(
        [
            {
                "Target": "alpine 3.10",
                "Type": "alpine",
                "Vulnerabilities": [{"VulnerabilityID": "CVE-1"}],
            },
            {"Target": "Pipfile.lock", "Type": "pip", "Vulnerabilities": None},
        ]
    )
    assert report.format == "trivy-legacy"
    assert only(report).target == "alpine 3.10"


@pytest.mark.parametrize("results", ["missing", None, []])
def test_v2_report_without_results_is_empty(results: Any) -> None:
    document: dict[str, Any] = {
        "SchemaVersion": 2,
        "ArtifactName": "app:1",
        "ArtifactType": "container_image",
    }
    if results != "missing":
        document["Results"] = results
    report = parse(document)
    assert report.format == "trivy-v2"
    assert report.findings == ()
    assert report.artifact_name == "app:1"


def test_v2_report_metadata_is_read() -> None:
    report = parse(
        {
            "SchemaVersion": 2,
            "Trivy": {"Version": "0.58.0"},
            "CreatedAt": "2024-01-02T03:04:05Z",
            "ArtifactName": "alpine:3.20",
            "ArtifactType": "container_image",
            "Metadata": {"OS": {"Family": "alpine", "Name": "3.20.3"}, "ImageConfig": {"x": [1]}},
            "Results": [],
        }
    )
    assert report == ParsedReport(
        format="trivy-v2",
        artifact_name="alpine:3.20",
        artifact_type="container_image",
        schema_version=2,
        scanner_version="0.58.0",
        created_at="2024-01-02T03:04:05Z",
        os_family="alpine",
        os_name="3.20.3",
    )


def test_k8s_resources_report_names_each_resource() -> None:
    report = parse(
        {
            "ClusterName": "prod",
            "Resources": [
                {
                    "Namespace": "web",
                    "Kind": "Deployment",
                    "Name": "shop",
                    "Results": [
                        {
                            "Target": "shop:1 (alpine 3.12)",
                            "Vulnerabilities": [{"VulnerabilityID": "CVE-1"}],
                        }
                    ],
                },
                {
                    "Kind": "ClusterRole",
                    "Name": "admin",
                    "Results": [
                        {
                            "Target": "ClusterRole/admin",
                            "Misconfigurations": [{"ID": "KSV-0041", "Status": "FAIL"}],
                        }
                    ],
                },
                {
                    "Namespace": "web",
                    "Kind": "Deployment",
                    "Name": "broken",
                    "Error": "unable to pull image",
                },
            ],
        }
    )
    assert report.format == "trivy-k8s"
    assert report.artifact_name == "prod"
    assert [finding.resource for finding in report.findings] == [
        "web/Deployment/shop",
        "/ClusterRole/admin",
    ]


def test_older_k8s_report_reads_top_level_resource_arrays() -> None:
    resource = {"Namespace": "default", "Kind": "Pod", "Name": "redis"}
    report = parse(
        {
            "ClusterName": "",
            "Vulnerabilities": [
                {
                    **resource,
                    "Results": [
                        {"Target": "redis:7", "Vulnerabilities": [{"VulnerabilityID": "CVE-1"}]}
                    ],
                }
            ],
            "Misconfigurations": [
                {
                    **resource,
                    "Results": [
                        {
                            "Target": "Pod/redis",
                            "Misconfigurations": [{"ID": "KSV001", "Status": "FAIL"}],
                        }
                    ],
                }
            ],
        }
    )
    assert report.format == "trivy-k8s"
    assert kind_counts(report) == (1, 1, 0, 0)
    assert {finding.resource for finding in report.findings} == {"default/Pod/redis"}


def test_k8s_misconfiguration_cause_is_prefixed_with_the_resource() -> None:
    check = {"ID": "KSV-0001", "Status": "FAIL", "CauseMetadata": {"Resource": "container nginx"}}
    resource = {
        "Namespace": "a",
        "Kind": "Pod",
        "Name": "p",
        "Results": [{"Misconfigurations": [check]}],
    }
    report = parse({"ClusterName": "c", "Resources": [resource]})
    assert only(report).resource == "a/Pod/p/container nginx"


@pytest.mark.parametrize("version", [1, 3])
def test_other_schema_versions_are_rejected_by_number(version: int) -> None:
    with pytest.raises(ReportError, match=f"SchemaVersion {version}"):
        parse({"SchemaVersion": version, "Results": []})


# --- field mapping --------------------------------------------------------------------

VULNERABILITY: dict[str, Any] = {
    "VulnerabilityID": "CVE-2024-0001",
    "VendorIDs": ["DSA-5000-1", "CVE-2024-0001"],
    "PkgID": "libssl3@3.3.2-r0",
    "PkgName": "libssl3",
    "PkgPath": "usr/lib/libssl.so.3",
    "PkgIdentifier": {"PURL": "pkg:apk/alpine/libssl3@3.3.2-r0?arch=x86_64", "UID": "abc"},
    "InstalledVersion": "3.3.2-r0",
    "FixedVersion": "3.3.2-r1, 3.4.0-r1",
    "Status": "fixed",
    "Layer": {"Digest": "sha256:aaa", "DiffID": "sha256:bbb"},
    "SeveritySource": "nvd",
    "PrimaryURL": "https://avd.aquasec.com/nvd/cve-2024-0001",
    "DataSource": {"ID": "alpine", "Name": "Alpine Secdb"},
    "Title": "openssl: a flaw",
    "Description": "A flaw was found.",
    "Severity": "HIGH",
    "CweIDs": ["CWE-125"],
    "VendorSeverity": {"redhat": 2, "nvd": 3, "ghsa": 0},
    "CVSS": {
        "redhat": {"V3Vector": "CVSS:3.1/AV:N", "V3Score": 5.9},
        "nvd": {"V2Vector": "AV:N/AC:L", "V2Score": 5, "V3Vector": "CVSS:3.1/AV:L", "V3Score": 7.5},
        "ghsa": {"V40Vector": "CVSS:4.0/AV:N", "V40Score": 8.7},
    },
    "References": [" https://a.example/1 ", "", "https://a.example/2", "\n"],
    "PublishedDate": "2024-01-01T00:00:00Z",
    "LastModifiedDate": "2024-02-01T00:00:00Z",
}


def v2_report(**sections: list[dict[str, Any]]) -> dict[str, Any]:
    result = {
        "Target": "alpine:3.20 (alpine 3.20.3)",
        "Class": "os-pkgs",
        "Type": "alpine",
        **sections,
    }
    return {"SchemaVersion": 2, "ArtifactName": "alpine:3.20", "Results": [result]}


def test_vulnerability_fields_are_mapped() -> None:
    finding = only(parse(v2_report(Vulnerabilities=[VULNERABILITY])))
    assert finding == ParsedFinding(
        kind=FindingKind.VULNERABILITY,
        rule_id="CVE-2024-0001",
        title="openssl: a flaw",
        severity=Severity.HIGH,
        description="A flaw was found.",
        aliases=("DSA-5000-1",),
        result_class="os-pkgs",
        result_type="alpine",
        target="alpine:3.20 (alpine 3.20.3)",
        package_name="libssl3",
        package_id="libssl3@3.3.2-r0",
        package_path="usr/lib/libssl.so.3",
        purl="pkg:apk/alpine/libssl3@3.3.2-r0?arch=x86_64",
        installed_version="3.3.2-r0",
        fixed_version="3.3.2-r1, 3.4.0-r1",
        status="fixed",
        severity_source="nvd",
        vendor_severity=(("ghsa", "Info"), ("nvd", "High"), ("redhat", "Medium")),
        cvss=(
            Cvss(source="ghsa", v40_vector="CVSS:4.0/AV:N", v40_score=8.7),
            Cvss(
                source="nvd",
                v2_vector="AV:N/AC:L",
                v2_score=5.0,
                v3_vector="CVSS:3.1/AV:L",
                v3_score=7.5,
            ),
            Cvss(source="redhat", v3_vector="CVSS:3.1/AV:N", v3_score=5.9),
        ),
        cwes=("CWE-125",),
        references=("https://a.example/1", "https://a.example/2"),
        primary_url="https://avd.aquasec.com/nvd/cve-2024-0001",
        published="2024-01-01T00:00:00Z",
        last_modified="2024-02-01T00:00:00Z",
        layer_digest="sha256:aaa",
        layer_diff_id="sha256:bbb",
    )


@pytest.mark.parametrize(
    ("label", "severity"),
    [
        ("CRITICAL", Severity.CRITICAL),
        ("HIGH", Severity.HIGH),
        ("MEDIUM", Severity.MEDIUM),
        ("LOW", Severity.LOW),
        ("UNKNOWN", Severity.INFO),
        ("low", Severity.LOW),
        ("IMPORTANT", Severity.INFO),
    ],
)
def test_trivy_severity_label_is_mapped(label: str, severity: Severity) -> None:
    finding = only(
        parse(v2_report(Vulnerabilities=[{"VulnerabilityID": "CVE-1", "Severity": label}]))
    )
    assert finding.severity is severity


def test_missing_severity_falls_back_to_the_severity_sources_vendor_level() -> None:
    item = {
        "VulnerabilityID": "CVE-1",
        "SeveritySource": "redhat",
        "VendorSeverity": {"nvd": 4, "redhat": 1},
    }
    assert only(parse(v2_report(Vulnerabilities=[item]))).severity is Severity.LOW


def test_missing_severity_falls_back_to_cvss_newest_score() -> None:
    cvss = {"ghsa": {"V3Score": 9.8, "V40Score": 6.1}, "nvd": {"V2Score": 9.3}}
    item = {"VulnerabilityID": "CVE-1", "SeveritySource": "ghsa", "CVSS": cvss}
    assert only(parse(v2_report(Vulnerabilities=[item]))).severity is Severity.MEDIUM


def test_cvss_v2_score_has_no_critical_rating() -> None:
    item = {"VulnerabilityID": "CVE-1", "CVSS": {"nvd": {"V2Score": 10}}}
    assert only(parse(v2_report(Vulnerabilities=[item]))).severity is Severity.HIGH


def test_no_severity_anywhere_is_info() -> None:
    assert (
        only(parse(v2_report(Vulnerabilities=[{"VulnerabilityID": "CVE-1"}]))).severity
        is Severity.INFO
    )


def test_vulnerability_without_id_uses_vendor_id_then_placeholder() -> None:
    report = parse(
        v2_report(Vulnerabilities=[{"VendorIDs": ["GHSA-x"], "PkgName": "a"}, {"PkgName": "b"}])
    )
    first, second = report.findings
    assert (first.rule_id, first.title, first.aliases) == ("GHSA-x", "GHSA-x", ())
    assert (second.rule_id, second.title, second.package_name) == (UNKNOWN_ID, UNKNOWN_ID, "b")


def test_empty_title_falls_back_to_the_id_without_versions() -> None:
    item = {"VulnerabilityID": "CVE-1", "Title": "", "PkgName": "bash", "InstalledVersion": "5.0"}
    assert only(parse(v2_report(Vulnerabilities=[item]))).title == "CVE-1"


def test_purl_written_as_an_object_is_rendered_as_text() -> None:
    purl = {
        "Type": "npm",
        "Namespace": "@babel",
        "Name": "core",
        "Version": "7.0.0",
        "Qualifiers": [{"Key": "arch", "Value": "x64"}],
        "Subpath": "",
    }
    item = {"VulnerabilityID": "CVE-1", "PkgIdentifier": {"PURL": purl}}
    assert (
        only(parse(v2_report(Vulnerabilities=[item]))).purl
        == "pkg:npm/%40babel/core@7.0.0?arch=x64"
    )


def test_absent_or_null_parts_give_empty_values() -> None:
    item = {
        "VulnerabilityID": "CVE-1",
        "PkgIdentifier": None,
        "Layer": None,
        "References": None,
        "CVSS": None,
    }
    finding = only(parse(v2_report(Vulnerabilities=[item])))
    assert (finding.purl, finding.layer_digest, finding.references, finding.cvss) == (
        "",
        "",
        (),
        (),
    )


def test_same_cve_in_two_packages_keeps_each_ones_own_scores() -> None:
    high = {"VendorSeverity": {"nvd": 3}, "CVSS": {"nvd": {"V3Score": 7.5}}}
    low = {"VendorSeverity": {"nvd": 1}, "CVSS": {"nvd": {"V3Score": 3.1}}}
    items = [
        {"VulnerabilityID": "CVE-1", "PkgName": package, **scores}
        for package, scores in (("a", high), ("b", low), ("c", high), ("d", {}))
    ]
    findings = parse(v2_report(Vulnerabilities=items)).findings
    assert [(finding.vendor_severity, finding.cvss) for finding in findings] == [
        ((("nvd", "High"),), (Cvss(source="nvd", v3_score=7.5),)),
        ((("nvd", "Low"),), (Cvss(source="nvd", v3_score=3.1),)),
        ((("nvd", "High"),), (Cvss(source="nvd", v3_score=7.5),)),
        ((), ()),
    ]


def test_misconfiguration_fields_are_mapped_and_passes_are_dropped() -> None:
    failed = {
        "Type": "Dockerfile Security Check",
        "ID": "DS002",
        "AVDID": "AVD-DS-0002",
        "Title": "Image user should not be 'root'",
        "Description": "Running as root…",
        "Message": "Specify at least 1 USER command",
        "Resolution": "Add 'USER <name>'",
        "Severity": "HIGH",
        "PrimaryURL": "https://avd.aquasec.com/misconfig/ds002",
        "References": ["https://avd.aquasec.com/misconfig/ds002"],
        "Status": "FAIL",
        "CauseMetadata": {
            "Resource": "stage 0",
            "StartLine": 3,
            "EndLine": 4,
            "Code": {"Lines": None},
        },
    }
    passed = {**failed, "ID": "DS001", "Status": "PASS"}
    waived = {**failed, "ID": "DS005", "Status": "EXCEPTION"}
    report = parse(v2_report(Misconfigurations=[passed, failed, waived]))
    assert only(report) == ParsedFinding(
        kind=FindingKind.MISCONFIGURATION,
        rule_id="DS-0002",
        title="Image user should not be 'root'",
        severity=Severity.HIGH,
        description="Running as root…",
        aliases=("DS002", "AVD-DS-0002"),
        result_class="os-pkgs",
        result_type="alpine",
        target="alpine:3.20 (alpine 3.20.3)",
        resource="stage 0",
        status="FAIL",
        references=("https://avd.aquasec.com/misconfig/ds002",),
        primary_url="https://avd.aquasec.com/misconfig/ds002",
        start_line=3,
        end_line=4,
        message="Specify at least 1 USER command",
        resolution="Add 'USER <name>'",
        category="Dockerfile Security Check",
    )


def test_secret_fields_are_mapped_from_the_masked_match_only() -> None:
    secret = {
        "RuleID": "aws-access-key-id",
        "Category": "AWS",
        "Severity": "CRITICAL",
        "Title": "AWS Access Key ID",
        "StartLine": 1,
        "EndLine": 1,
        "Match": "AWS_ACCESS_KEY_ID=****",
        "Code": {
            "Lines": [{"Number": 1, "Content": "AWS_ACCESS_KEY_ID=AKIAREALKEY", "IsCause": True}]
        },
    }
    finding = only(parse(v2_report(Secrets=[secret])))
    assert (finding.kind, finding.rule_id, finding.title, finding.severity) == (
        FindingKind.SECRET,
        "aws-access-key-id",
        "AWS Access Key ID",
        Severity.CRITICAL,
    )
    assert (finding.category, finding.start_line, finding.end_line) == ("AWS", 1, 1)
    assert finding.message == "AWS_ACCESS_KEY_ID=****"
    assert "AKIAREALKEY" not in repr(finding)


def test_secret_entry_shaped_like_a_vulnerability_is_imported() -> None:
    finding = only(parse(v2_report(Secrets=[{"VulnerabilityID": "CVE-a-dummy-secret-finding"}])))
    assert (finding.kind, finding.rule_id, finding.severity) == (
        FindingKind.SECRET,
        "CVE-a-dummy-secret-finding",
        Severity.INFO,
    )


def test_license_fields_are_mapped() -> None:
    license_ = {
        "Severity": "MEDIUM",
        "Category": "reciprocal",
        "PkgName": "org.eclipse.sisu.plexus",
        "FilePath": "app/lib/sisu.jar",
        "Name": "EPL-1.0",
        "Confidence": 1,
        "Link": "https://spdx.org/licenses/EPL-1.0.html",
    }
    finding = only(parse(v2_report(Licenses=[license_])))
    assert (finding.kind, finding.rule_id, finding.title, finding.severity) == (
        FindingKind.LICENSE,
        "EPL-1.0",
        "License EPL-1.0",
        Severity.MEDIUM,
    )
    assert (finding.package_name, finding.package_path, finding.category, finding.primary_url) == (
        "org.eclipse.sisu.plexus",
        "app/lib/sisu.jar",
        "reciprocal",
        "https://spdx.org/licenses/EPL-1.0.html",
    )


def test_sections_come_in_report_order() -> None:
    report = parse(
        v2_report(
            Licenses=[{"Name": "MIT"}],
            Secrets=[{"RuleID": "s"}],
            Misconfigurations=[{"ID": "m", "Status": "FAIL"}],
            Vulnerabilities=[{"VulnerabilityID": "v"}],
        )
    )
    assert [finding.kind for finding in report.findings] == list(KINDS)


def test_utf8_byte_order_mark_is_accepted() -> None:
    assert parse_trivy(b"\xef\xbb\xbf" + encode(v2_report())).format == "trivy-v2"


# --- check ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("DS002", "DS-0002"),
        ("AVD-DS-0002", "DS-0002"),
        ("DS-0002", "DS-0002"),
        ("ds002", "DS-0002"),
        ("KSV0012", "KSV-0012"),
        ("AVD-AWS-0086", "AWS-0086"),
        ("avd-aws-86", "AWS-0086"),
        ("AVD-KSV-01010", "KSV-1010"),
        ("KSV-12345", "KSV-12345"),
        ("KCV0000", "KCV-0000"),
        (" DS002 ", "DS-0002"),
        ("no-root", "no-root"),
        ("CKV_AWS_20", "CKV_AWS_20"),
        ("AVD-no-root", "AVD-no-root"),
        ("DS٢", "DS٢"),  # a non-ASCII digit is not a check number
        ("", ""),
    ],
)
def test_check_id_is_canonical_across_trivy_versions(raw: str, canonical: str) -> None:
    assert canonical_check_id(raw) == canonical


def test_huge_check_number_does_not_hit_the_int_parsing_limit() -> None:
    assert canonical_check_id("DS" + "9" * 10_000) == "DS-" + "9" * 10_000


# --- what is not a Trivy report -------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "the file is empty"),
        (b" \n\t ", "the file is empty"),
        (b'{"SchemaVersion": 2, "ArtifactName": "\xff"}', "not valid UTF-8"),
        (b'{"x": "\xc3("}', "not valid UTF-8"),
        ('{"SchemaVersion": 2}'.encode("utf-16"), "UTF-16"),
        (b"{'SchemaVersion': 2}", r"not valid JSON: .*byte 1"),
        (b'{"SchemaVersion": 2', "not valid JSON"),
        (b'{"SchemaVersion": 2} trailing', "not valid JSON: .*trailing"),
        (b"42", "not a Trivy JSON report: the file holds a number"),
        (b'  "report"', "not a Trivy JSON report: the file holds a string"),
        (b"true", "not a Trivy JSON report: the file holds a boolean"),
        (b"{}", "not a Trivy JSON report: the object has none of the keys SchemaVersion"),
        (b'{"findings": [{"title": "x"}]}', "DefectDojo Generic Findings"),
        (b'{"bomFormat": "CycloneDX", "specVersion": "1.5"}', "CycloneDX"),
        (
            b'{"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "version": "2.1.0"}',
            "SARIF",
        ),
        (b'{"version": "2.1.0", "runs": []}', "SARIF"),
        (b'{"spdxVersion": "SPDX-2.3"}', "SPDX"),
        (b'[{"title": "x"}]', "not a Trivy JSON report: a list whose items have no Target"),
        (b"[1, 2]", r"\$\[0\]"),
    ],
)
def test_non_trivy_input_is_rejected_with_a_message_naming_the_problem(
    data: bytes, message: str
) -> None:
    with pytest.raises(ReportError, match=message):
        parse_trivy(data)


def test_wrong_type_inside_keeps_msgspecs_path() -> None:
    with pytest.raises(ReportError, match=r"\$\.Results\[0\]\.Vulnerabilities"):
        parse({"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": {"a": 1}}]})


def test_numeric_severity_is_rejected_with_its_path() -> None:
    with pytest.raises(ReportError, match=r"\$\.Results\[0\]\.Vulnerabilities\[0\]\.Severity"):
        parse(v2_report(Vulnerabilities=[{"VulnerabilityID": "CVE-1", "Severity": 3}]))


def test_textual_start_line_is_rejected_with_its_path() -> None:
    with pytest.raises(ReportError, match=r"\$\.Results\[0\]\.Secrets\[0\]\.StartLine"):
        parse(v2_report(Secrets=[{"RuleID": "r", "StartLine": "3"}]))


def test_out_of_range_numbers_are_rejected() -> None:
    with pytest.raises(ReportError, match="out of range"):
        parse_trivy(
            b'{"SchemaVersion": 2, "Results": [{"Target": "t", "Secrets": [{"StartLine": 1'
            + b"0" * 5000
            + b"}]}]}"
        )


@pytest.mark.parametrize("where", ["top", "skipped field", "known field"])
def test_deeply_nested_json_is_rejected(where: str) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    data = {
        "top": deep,
        "skipped field": b'{"SchemaVersion": 2, "Extra": ' + deep + b"}",
        "known field": b'{"SchemaVersion": 2, "Results": [{"Target": "t", "Vulnerabilities": [{"PkgIdentifier": {"PURL": {"a": '
        + deep
        + b"}}}]}]}",
    }[where]
    with pytest.raises(ReportError):
        parse_trivy(data)


def test_bad_utf8_in_a_skipped_field_is_still_rejected() -> None:
    with pytest.raises(ReportError, match="byte 0xff at offset 27"):
        parse_trivy(b'{"SchemaVersion": 2, "X": "\xff"}')


# --- properties: nothing but ReportError, for any bytes ------------------------------

# fmt: off
TRIVY_KEYS = [
    "SchemaVersion", "ArtifactName", "ArtifactType", "CreatedAt", "Metadata", "OS", "Family", "Name",
    "Trivy", "Version", "Results", "ClusterName", "Resources", "Namespace", "Kind", "Error",
    "Target", "Class", "Type", "Vulnerabilities", "Misconfigurations", "Secrets", "Licenses",
    "VulnerabilityID", "VendorIDs", "PkgID", "PkgName", "PkgPath", "PkgIdentifier", "PURL",
    "InstalledVersion", "FixedVersion", "Status", "Layer", "Digest", "DiffID", "SeveritySource",
    "PrimaryURL", "Title", "Description", "Severity", "CweIDs", "VendorSeverity", "CVSS", "nvd",
    "V2Vector", "V2Score", "V3Vector", "V3Score", "V40Vector", "V40Score", "References",
    "PublishedDate", "LastModifiedDate", "ID", "AVDID", "Message", "Resolution", "CauseMetadata",
    "Resource", "StartLine", "EndLine", "RuleID", "Category", "Match", "FilePath", "Text", "Link",
    "Qualifiers", "Key", "Value", "bomFormat", "runs", "$schema", "findings", "spdxVersion",
]
# fmt: on

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["CRITICAL", "UNKNOWN", "FAIL", "PASS", "DS002", "AVD-KSV-0001", ""])
    | st.just(2)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(TRIVY_KEYS) | st.text(max_size=8), children, max_size=6)
    ),
    max_leaves=40,
)
trivy_like = (
    json_values
    | st.fixed_dictionaries(
        {"SchemaVersion": st.just(2)}, optional={"Results": st.lists(json_values, max_size=3)}
    )
    | st.fixed_dictionaries(
        {"ClusterName": st.text(max_size=5), "Resources": st.lists(json_values, max_size=3)}
    )
)


def mostly(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The right type four times in five, any JSON value otherwise."""
    return st.one_of(strategy, strategy, strategy, strategy, json_values)


def item_of(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional={key: mostly(value) for key, value in fields.items()})


text = st.text(max_size=12)
severity_text = st.sampled_from(["CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN", "", "high"]) | text
score = st.floats(-1, 11) | st.integers(-1, 11)
purl_object = st.dictionaries(
    st.sampled_from(["Type", "Name", "Namespace", "Version", "Qualifiers", "Subpath", "type"]),
    json_values | text,
)
VULNERABILITY_FIELDS = {
    "VulnerabilityID": st.sampled_from(["CVE-1", "CVE-2", ""]) | text,
    "VendorIDs": st.lists(text, max_size=3),
    "PkgName": text,
    "PkgIdentifier": item_of({"PURL": text | purl_object}),
    "Severity": severity_text,
    "SeveritySource": st.sampled_from(["nvd", "ghsa", "redhat", ""]),
    "VendorSeverity": st.dictionaries(st.sampled_from(["nvd", "ghsa", "x"]), st.integers(-2, 6)),
    "CVSS": st.dictionaries(
        st.sampled_from(["nvd", "ghsa", "redhat", "x"]),
        item_of({"V2Score": score, "V3Score": score, "V40Score": score, "V3Vector": text}),
    ),
    "References": st.lists(text | st.sampled_from([" ", "", " https://x "]), max_size=4),
    "CweIDs": st.lists(text, max_size=2),
    "Layer": item_of({"Digest": text, "DiffID": text}),
}
MISCONFIGURATION_FIELDS = {
    "ID": st.sampled_from(["DS002", "AVD-DS-0002", "DS-0002", " ", ""]) | text,
    "AVDID": st.sampled_from(["AVD-DS-0002", ""]) | text,
    "Status": st.sampled_from(["FAIL", "PASS", "EXCEPTION", "", "pass"]),
    "Severity": severity_text,
    "References": st.lists(text, max_size=2),
    "CauseMetadata": item_of(
        {"Resource": text, "StartLine": st.integers(), "EndLine": st.integers()}
    ),
}
SECRET_FIELDS = {
    "RuleID": text,
    "VulnerabilityID": text,
    "Severity": severity_text,
    "StartLine": st.integers(),
    "Match": text,
}
LICENSE_FIELDS = {"Name": text, "Severity": severity_text, "PkgName": text, "FilePath": text}
result_like = st.fixed_dictionaries(
    {"Target": text},
    optional={
        "Class": text,
        "Type": text,
        "Vulnerabilities": mostly(st.lists(item_of(VULNERABILITY_FIELDS), max_size=4)),
        "Misconfigurations": mostly(st.lists(item_of(MISCONFIGURATION_FIELDS), max_size=3)),
        "Secrets": mostly(st.lists(item_of(SECRET_FIELDS), max_size=2)),
        "Licenses": mostly(st.lists(item_of(LICENSE_FIELDS), max_size=2)),
    },
)
resource_like = item_of(
    {
        "Namespace": text,
        "Kind": text,
        "Name": text,
        "Error": text,
        "Results": st.lists(result_like, max_size=2),
    }
)
trivy_shaped = st.one_of(
    st.lists(result_like, max_size=3),
    st.fixed_dictionaries(
        {"SchemaVersion": st.just(2)},
        optional={"Results": st.lists(result_like, max_size=3), "ArtifactName": text},
    ),
    st.fixed_dictionaries(
        {"ClusterName": text},
        optional={
            "Resources": st.lists(resource_like, max_size=3),
            "Vulnerabilities": st.lists(resource_like, max_size=2),
        },
    ),
)


def check_parse_outcome(data: bytes) -> None:
    """parse_trivy returns a well-formed report or raises ReportError: nothing else."""
    try:
        report = parse_trivy(data)
    except ReportError as error:
        assert str(error)
        return
    text_fields = [
        field.name for field in msgspec.structs.fields(ParsedFinding) if field.type is str
    ]
    for finding in report.findings:
        assert finding.rule_id
        assert all(isinstance(getattr(finding, name), str) for name in text_fields)
    msgspec.json.encode(report)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trivy_like, st.booleans())
def test_arbitrary_json_gives_a_report_or_report_error(document: Any, ascii_only: bool) -> None:
    check_parse_outcome(json.dumps(document, ensure_ascii=ascii_only).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trivy_shaped)
def test_trivy_shaped_json_gives_a_report_or_report_error(document: Any) -> None:
    check_parse_outcome(json.dumps(document).encode())


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_arbitrary_bytes_give_a_report_or_report_error(data: bytes) -> None:
    check_parse_outcome(data)


SMALL_CORPUS_FILES = [name for name in CORPUS_FILES if (CORPUS / name).stat().st_size < 40_000]


def mutate(node: Any, draw: st.DrawFn) -> Any:
    """Replace or drop one randomly chosen node of a decoded JSON tree (mostly a deep one)."""
    descend = draw(st.integers(0, 7)) > 0
    if isinstance(node, dict) and node and descend:
        key = draw(st.sampled_from(sorted(node)))
        if draw(st.integers(0, 3)) == 0:
            return {k: v for k, v in node.items() if k != key}
        return {**node, key: mutate(node[key], draw)}
    if isinstance(node, list) and node and descend:
        index = draw(st.integers(0, len(node) - 1))
        return [*node[:index], mutate(node[index], draw), *node[index + 1 :]]
    return draw(json_values)


@needs_corpus
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_real_reports_give_a_report_or_report_error(data: st.DataObject) -> None:
    name = data.draw(st.sampled_from(SMALL_CORPUS_FILES))
    document = json.loads((CORPUS / name).read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        document = mutate(document, data.draw)
    check_parse_outcome(json.dumps(document).encode())


@needs_corpus
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_corrupted_bytes_of_real_reports_give_a_report_or_report_error(data: st.DataObject) -> None:
    raw = bytearray((CORPUS / data.draw(st.sampled_from(SMALL_CORPUS_FILES))).read_bytes())
    for _ in range(data.draw(st.integers(1, 3))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    check_parse_outcome(bytes(raw[:cut] if data.draw(st.booleans()) else raw))
