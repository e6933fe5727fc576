"""The parts of Trivy's JSON output that vulntrail reads, as msgspec Structs.

Field names are Trivy's JSON keys verbatim, so each one can be looked up in Trivy's
`pkg/types` sources. Only the fields the parser uses are declared: msgspec skips the
rest (package lists, code snippets, image config) without building Python objects,
which is what makes decoding faster than `json.loads`.

Types follow Trivy's Go structs: every field may be absent (`omitempty`, or an
older Trivy), strings default to "" and are never null (a Go string cannot be),
while slices, maps, pointers and numbers may be null or absent and default to None.
A value of the wrong JSON type is rejected by msgspec, with its path in the message.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Schema(msgspec.Struct, gc=False, frozen=True):
    """Base: untracked by the garbage collector, since these trees never form cycles."""


class LayerRef(_Schema):
    Digest: str = ""
    DiffID: str = ""


class PkgIdent(_Schema):
    # A string since Trivy 0.48; a packageurl-go struct in some builds before.
    PURL: str | dict[str, Any] | None = None


class CvssBlock(_Schema):
    V2Vector: str = ""
    V2Score: float | None = None
    V3Vector: str = ""
    V3Score: float | None = None
    V40Vector: str = ""
    V40Score: float | None = None


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
    Target: str | None = None  # None (absent) tells a legacy list of results from other lists
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

    The last fields are never Trivy's: they only let the parser say what a
    foreign file looks like. `Raw` keeps them as undecoded bytes, so they cost nothing.
    """

    SchemaVersion: int | None = None
    ArtifactName: str | None = None  # with ClusterName, None (absent) tells the shape
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
