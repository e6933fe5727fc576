"""The parts of Trivy's JSON output that vulntrail reads, as msgspec Structs.

Field names are Trivy's JSON keys verbatim, so each one can be looked up in Trivy's
`pkg/types` sources. Only the fields the parser uses are declared: msgspec skips the
rest (package lists, code snippets, image config) without building Python objects,
which is what makes decoding faster than `json.loads`.

Types follow Trivy's Go structs: any field may be absent (`omitempty`, or an older
Trivy); strings default to "" and are never null (a Go string cannot be), while
slices, maps, pointers and numbers may be null or absent and default to None. Three
strings are `None` when absent because their presence tells the report's shape.
A value of the wrong JSON type is rejected by msgspec, with its path in the message.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec

from vulntrail.parsers.interface import Cvss
from vulntrail.parsers.interface import Severity as Rating  # `Severity` is a Trivy field name


class _Schema(msgspec.Struct, gc=False):
    """Base: untracked by the garbage collector, since decoded trees never form cycles."""


class LayerRef(_Schema):
    Digest: str = ""
    DiffID: str = ""


class PkgIdent(_Schema):
    # A string since Trivy 0.48; a packageurl-go struct in some builds before.
    PURL: str | dict[str, Any] | None = None

    def purl_text(self) -> str:
        if isinstance(self.PURL, dict):
            return _purl_from_parts(self.PURL)
        return self.PURL or ""


class CvssBlock(_Schema):
    V2Vector: str = ""
    V2Score: float | None = None
    V3Vector: str = ""
    V3Score: float | None = None
    V40Vector: str = ""
    V40Score: float | None = None

    def to_cvss(self, source: str) -> Cvss:
        return Cvss(
            source=source,
            v2_vector=self.V2Vector,
            v2_score=self.V2Score,
            v3_vector=self.V3Vector,
            v3_score=self.V3Score,
            v40_vector=self.V40Vector,
            v40_score=self.V40Score,
        )

    def rating(self) -> Rating | None:
        """The newest score's qualitative rating: CVSS v4/v3 ranges (9.0 Critical,
        7.0 High, 4.0 Medium, 0.1 Low); v2 has no Critical (7.0 and up is High)."""
        ranges: tuple[tuple[float, Rating], ...]
        score = self.V40Score if self.V40Score is not None else self.V3Score
        if score is not None:
            ranges = ((9.0, Rating.CRITICAL), (7.0, Rating.HIGH), (4.0, Rating.MEDIUM))
        elif self.V2Score is not None:
            score = self.V2Score
            ranges = ((7.0, Rating.HIGH), (4.0, Rating.MEDIUM))
        else:
            return None
        for lower_bound, severity in ranges:
            if score >= lower_bound:
                return severity
        return Rating.LOW if score > 0 else Rating.INFO


class Vulnerability(_Schema):
    VulnerabilityID: str = ""
    VendorIDs: tuple[str, ...] | None = None
    PkgID: str = ""
    PkgName: str = ""
    PkgPath: str = ""
    PkgIdentifier: PkgIdent | None = None
    InstalledVersion: str = ""
    FixedVersion: str = ""
    Status: str = ""
    Layer: LayerRef | None = None
    SeveritySource: str = ""
    PrimaryURL: str = ""
    Title: str = ""
    Description: str = ""
    Severity: str = ""
    CweIDs: tuple[str, ...] | None = None
    VendorSeverity: dict[str, int] | None = None
    CVSS: dict[str, CvssBlock] | None = None
    References: tuple[str, ...] | None = None
    PublishedDate: str = ""
    LastModifiedDate: str = ""


class Cause(_Schema):
    Resource: str = ""
    StartLine: int | None = None
    EndLine: int | None = None


class Misconfiguration(_Schema):
    Type: str = ""
    ID: str = ""
    AVDID: str = ""
    Title: str = ""
    Description: str = ""
    Message: str = ""
    Resolution: str = ""
    Severity: str = ""
    PrimaryURL: str = ""
    References: tuple[str, ...] | None = None
    Status: str = ""
    Layer: LayerRef | None = None
    CauseMetadata: Cause | None = None


class Secret(_Schema):
    RuleID: str = ""
    # Not a Trivy secret key: a hand-edited corpus file puts a vulnerability id here.
    VulnerabilityID: str = ""
    Category: str = ""
    Severity: str = ""
    Title: str = ""
    StartLine: int | None = None
    EndLine: int | None = None
    Match: str = ""
    Layer: LayerRef | None = None


class License(_Schema):
    Severity: str = ""
    Category: str = ""
    PkgName: str = ""
    FilePath: str = ""
    Name: str = ""
    Text: str = ""
    Link: str = ""


class Result(_Schema):
    Target: str | None = None  # every legacy Result has one; other lists of objects do not
    Class: str = ""
    Type: str = ""
    Vulnerabilities: list[Vulnerability] | None = None
    Misconfigurations: list[Misconfiguration] | None = None
    Secrets: list[Secret] | None = None
    Licenses: list[License] | None = None


class K8sResource(_Schema):
    Namespace: str = ""
    Kind: str = ""
    Name: str = ""
    Results: list[Result] | None = None
    Error: str = ""


class OSInfo(_Schema):
    Family: str = ""
    Name: str = ""


class ImageMetadata(_Schema):
    OS: OSInfo | None = None


class TrivyInfo(_Schema):
    Version: str = ""


class ReportObject(_Schema):
    """Any top-level JSON object: a SchemaVersion 2 report or a `trivy k8s` report.

    The last fields are never Trivy's: they only let the parser say what a foreign
    file looks like. `Raw` keeps them as undecoded bytes, so they cost nothing.
    """

    SchemaVersion: int | None = None
    ArtifactName: str | None = None
    ArtifactType: str = ""
    CreatedAt: str = ""
    Metadata: ImageMetadata | None = None
    Trivy: TrivyInfo | None = None
    Results: list[Result] | None = None
    ClusterName: str | None = None
    Resources: list[K8sResource] | None = None
    # The pre-`Resources` k8s report: resources grouped by what was found in them.
    Vulnerabilities: list[K8sResource] | None = None
    Misconfigurations: list[K8sResource] | None = None
    bomFormat: msgspec.Raw = msgspec.Raw()
    spdxVersion: msgspec.Raw = msgspec.Raw()
    runs: msgspec.Raw = msgspec.Raw()
    json_schema: msgspec.Raw = msgspec.field(default=msgspec.Raw(), name="$schema")
    findings: msgspec.Raw = msgspec.Raw()


# What any Trivy JSON file decodes to: a report object, a legacy list of results, or null.
TrivyDocument = ReportObject | list[Result] | None


def _purl_from_parts(parts: dict[str, Any]) -> str:
    """Best-effort purl text of a packageurl-go struct serialized as a JSON object."""
    fields = {str(key).lower(): _text(value) for key, value in parts.items()}
    kind, name = fields.get("type", ""), fields.get("name", "")
    if not kind or not name:
        return ""
    namespace, version, subpath = (
        fields.get(key, "") for key in ("namespace", "version", "subpath")
    )
    text = f"pkg:{kind.lower()}/" + (f"{quote(namespace, safe='/')}/" if namespace else "")
    text += quote(name, safe="") + (f"@{quote(version, safe=':+')}" if version else "")
    qualifiers = _purl_qualifiers(parts.get("Qualifiers", parts.get("qualifiers")))
    if qualifiers:
        text += "?" + "&".join(f"{key}={quote(value, safe=':/')}" for key, value in qualifiers)
    return text + (f"#{subpath}" if subpath else "")


def _purl_qualifiers(value: Any) -> list[tuple[str, str]]:
    """packageurl-go writes [{"Key": k, "Value": v}, …]; a plain {k: v} map is accepted too."""
    if isinstance(value, dict):
        pairs = [(str(key), _text(item)) for key, item in value.items()]
    elif isinstance(value, list):
        entries = [entry for entry in value if isinstance(entry, dict)]
        pairs = [(_text(entry.get("Key")), _text(entry.get("Value"))) for entry in entries]
    else:
        pairs = []
    return sorted((key.lower(), text) for key, text in pairs if key and text)


def _text(value: Any) -> str:
    # Only strings count: str() of a deeply nested list could itself overflow the stack.
    return value if isinstance(value, str) else ""
