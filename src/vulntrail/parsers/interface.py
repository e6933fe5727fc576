"""The parser role: bytes of a scanner report in, plain typed values out.

Values are frozen msgspec Structs (cheap to build by the ten thousand, cheap to
encode for hashing, untracked by the garbage collector since they hold no cycles)
rather than dataclasses; they are plain values all the same.

Parsers never touch the database or the web layer; they only know this interface.
A report that is not of the parser's format raises :class:`ReportError`, whose
message names the problem so that it can be shown to the client as is.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum

import msgspec


class ReportError(ValueError):
    """The uploaded bytes are not a report this parser understands."""


class FindingKind(StrEnum):
    VULNERABILITY = "vulnerability"
    MISCONFIGURATION = "misconfiguration"
    SECRET = "secret"
    LICENSE = "license"


class Severity(IntEnum):
    """DefectDojo's five severities; Trivy's UNKNOWN maps to INFO."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.capitalize()

    @classmethod
    def from_label(cls, text: str) -> Severity:
        """Parse DefectDojo labels or Trivy's upper-case names; unknown text is INFO."""
        key = text.strip().upper()
        if key in ("INFORMATIONAL", "UNKNOWN", "NONE", ""):
            return cls.INFO
        return cls.__members__.get(key, cls.INFO)


class Cvss(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One vendor's CVSS block as Trivy reports it (`CVSS.<source>`)."""

    source: str
    v2_vector: str = ""
    v2_score: float | None = None
    v3_vector: str = ""
    v3_score: float | None = None
    v40_vector: str = ""
    v40_score: float | None = None


class ParsedFinding(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One item of a report, normalized but not yet identified.

    Strings are never None: an absent value is "". `target` is the report's own
    text (it may carry the image tag); `artifact_name` lets the identity module
    remove that per-build part.
    """

    kind: FindingKind
    rule_id: str  # CVE/GHSA id, misconfiguration check id, secret rule id, license name
    title: str
    severity: Severity
    description: str = ""
    aliases: tuple[str, ...] = ()  # VendorIDs, AVDID, other ids of the same issue
    result_class: str = ""  # Trivy Result.Class: os-pkgs, lang-pkgs, config, secret, license…
    result_type: str = ""  # Trivy Result.Type: alpine, debian, pip, npm, jar, dockerfile…
    target: str = ""  # Trivy Result.Target as written in the report
    resource: str = ""  # k8s "namespace/Kind/name", or a misconfiguration's cause resource
    package_name: str = ""
    package_id: str = ""  # Trivy PkgID, e.g. "libssl3@3.3.2-r0"
    package_path: str = ""  # Trivy PkgPath (lock file, jar, dist-info of the package)
    purl: str = ""
    installed_version: str = ""
    fixed_version: str = ""
    status: str = ""  # Trivy Status (fixed, affected, will_not_fix…) or misconfig FAIL/PASS
    severity_source: str = ""
    vendor_severity: tuple[tuple[str, str], ...] = ()  # (source, Severity label), sorted
    cvss: tuple[Cvss, ...] = ()  # sorted by source
    cwes: tuple[str, ...] = ()
    references: tuple[str, ...] = ()
    primary_url: str = ""
    published: str = ""  # ISO 8601 text as reported
    last_modified: str = ""
    layer_digest: str = ""
    layer_diff_id: str = ""
    start_line: int | None = None
    end_line: int | None = None
    message: str = ""  # misconfiguration message, or the (masked) secret match
    resolution: str = ""  # misconfiguration resolution / mitigation text
    category: str = ""  # secret category, license category, misconfiguration type


class ParsedReport(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """A whole report: what it describes and every item it holds, in report order."""

    format: str  # "trivy-v2", "trivy-legacy", "trivy-k8s", "trivy-null"
    artifact_name: str = ""
    artifact_type: str = ""
    schema_version: int | None = None
    scanner_version: str = ""
    created_at: str = ""
    os_family: str = ""
    os_name: str = ""
    findings: tuple[ParsedFinding, ...] = ()
