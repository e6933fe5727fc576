"""Trivy's JSON report → :class:`ParsedReport`.

Every shape Trivy has written is accepted: `null` (old Trivy, nothing found), the
pre-0.20 bare list of results, the SchemaVersion 2 object, and `trivy k8s` reports
(`ClusterName` with `Resources`, or with the older top-level arrays of resources).
Each Result contributes its vulnerabilities, failed misconfiguration checks,
secrets and licenses, in report order.

Any other input raises :class:`ReportError` and nothing else, with a message that
says what is wrong with the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import msgspec

from vulntrail.parsers.interface import (
    Cvss,
    FindingKind,
    ParsedFinding,
    ParsedReport,
    ReportError,
    Severity,
)
from vulntrail.parsers.trivy_schema import (
    CvssBlock,
    K8sResource,
    License,
    Misconfiguration,
    ReportObject,
    Result,
    Secret,
    TrivyDocument,
    Vulnerability,
)

UNKNOWN_ID = "UNKNOWN-ID"
"""rule_id of an item that carries no id at all (seen in hand-edited reports)."""

# Trivy lists passed and waived checks too (--include-non-failures, exception
# policies); only failed checks are findings.
_NOT_FAILED = frozenset({"PASS", "EXCEPTION"})

# Where a severity is missing, vendors are consulted in this order after SeveritySource.
_VENDOR_ORDER = ("nvd", "ghsa", "redhat", "bitnami")

_CHECK_ID = re.compile(r"(?:AVD-)?([A-Z]+)-?([0-9]+)", re.ASCII | re.IGNORECASE)
_FIRST_BYTE = re.compile(rb"[ \t\r\n]*(.)", re.DOTALL)
_UTF8_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")

_SEVERITY_BY_LEVEL = {int(severity): severity for severity in Severity}
_LABEL_BY_LEVEL = {int(severity): severity.label for severity in Severity}
_SEVERITY_BY_LABEL = {
    text: Severity.from_label(text) for text in ("", *Severity.__members__, "UNKNOWN")
}

_DECODER: msgspec.json.Decoder[TrivyDocument] = msgspec.json.Decoder(TrivyDocument)


class _Where(NamedTuple):
    """The Result (and k8s resource) an item was found in."""

    result_class: str
    result_type: str
    target: str
    resource: str


class _Shared:
    """Per-report memo that converts each distinct VendorSeverity and CVSS map once.

    Vendor-severity maps take few distinct values in a whole report, so they are
    keyed by content. CVSS maps belong to one CVE, found in several packages, images
    or k8s resources: they are keyed by its id and reused only while equal, so an
    edited report whose copies of a CVE differ still gets each one exactly. Sharing
    the tuples saves time and memory on big reports.
    """

    def __init__(self) -> None:
        self._levels: dict[tuple[tuple[str, int], ...], tuple[tuple[str, str], ...]] = {}
        self._cvss: dict[str, tuple[dict[str, CvssBlock], tuple[Cvss, ...]]] = {}

    def vendor_severity(self, levels: dict[str, int] | None) -> tuple[tuple[str, str], ...]:
        if not levels:
            return ()
        key = tuple(levels.items())
        found = self._levels.get(key)
        if found is None:
            found = self._levels[key] = _vendor_severity(levels)
        return found

    def cvss(self, item: Vulnerability) -> tuple[Cvss, ...]:
        blocks = item.CVSS
        if not blocks:
            return ()
        seen = self._cvss.get(item.VulnerabilityID)
        if seen is not None and seen[0] == blocks:
            return seen[1]
        converted = _cvss(blocks)
        self._cvss[item.VulnerabilityID] = (blocks, converted)
        return converted


def parse_trivy(data: bytes) -> ParsedReport:
    """Parse the bytes of a Trivy JSON report; raise ReportError if they are not one."""
    document = _decode(data)
    if document is None:
        return ParsedReport(format="trivy-null")
    if isinstance(document, list):
        return _legacy_report(document)
    return _object_report(document)


def canonical_check_id(text: str) -> str:
    """The one id a misconfiguration check keeps across Trivy versions.

    Trivy has named the same check "DS002" (older ID), "AVD-DS-0002" (AVDID) and
    "DS-0002" (newest ID, reports without AVDID). An id made of letters then
    digits, with an optional "AVD-" prefix and an optional hyphen between them,
    becomes the upper-case letters, a hyphen and the number zero-padded to four
    digits: all three above are "DS-0002", and "avd-aws-86" is "AWS-0086".
    Any other id (custom checks such as "no-root") is returned stripped, unchanged.
    """
    stripped = text.strip()
    match = _CHECK_ID.fullmatch(stripped)
    if match is None:
        return stripped
    letters, digits = match.groups()
    # No int(): a digit run longer than Python's int-parsing limit must not raise.
    number = digits.lstrip("0").rjust(4, "0")
    return f"{letters.upper()}-{number}"


# --- decoding and errors ---------------------------------------------------------


def _decode(data: bytes) -> TrivyDocument:
    if not data or data.isspace():
        raise ReportError("the file is empty")
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise ReportError("the file is UTF-32 text; a Trivy report is UTF-8")
    if data.startswith(_UTF16_BOMS):
        raise ReportError(
            "the file is UTF-16 text (as PowerShell's '>' writes); a Trivy report is "
            "UTF-8: write it with 'trivy --output FILE'"
        )
    view = memoryview(data)[3:] if data.startswith(_UTF8_BOM) else memoryview(data)
    # msgspec checks UTF-8 only in the strings it decodes, not in skipped fields.
    if not data.isascii():
        _check_utf8(data)
    if b"\\u0000" in data:
        view = memoryview(_without_nul(bytes(view)))
    try:
        return _DECODER.decode(view)
    except msgspec.ValidationError as exc:
        raise _validation_error(exc, data) from None
    except msgspec.DecodeError as exc:
        raise ReportError(f"the file is not valid JSON: {exc}") from None
    except RecursionError:
        raise ReportError("the JSON is nested too deeply to be a Trivy report") from None


_ESCAPED_NUL = re.compile(rb"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul(data: bytes) -> bytes:
    """JSON may escape U+0000, which PostgreSQL text cannot hold: read it as U+FFFD.
    (The stored upload keeps the original bytes.)"""
    return _ESCAPED_NUL.sub(rb"\1\\ufffd", data)


def _check_utf8(data: bytes) -> None:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ReportError(
            f"the file is not valid UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start}"
        ) from None


def _validation_error(exc: msgspec.ValidationError, data: bytes) -> ReportError:
    text = str(exc)
    if " - at `$" in text:
        return ReportError(f"invalid Trivy report: {text}")
    # No path: the top-level value itself is of the wrong JSON type.
    return ReportError(
        f"not a Trivy JSON report: the file holds {_top_level_kind(data)}; a Trivy "
        "report is a JSON object (or a list, or null, from Trivy before 0.20)"
    )


def _top_level_kind(data: bytes) -> str:
    match = _FIRST_BYTE.match(data)
    first = match.group(1) if match else b""
    return {b'"': "a string", b"t": "a boolean", b"f": "a boolean"}.get(first, "a number")


def _foreign_object_error(document: ReportObject) -> ReportError:
    looks_like = ""
    if document.bomFormat:
        looks_like = "; it looks like a CycloneDX SBOM (it has bomFormat)"
    elif document.spdxVersion:
        looks_like = "; it looks like an SPDX SBOM (it has spdxVersion)"
    elif document.runs or b"sarif" in bytes(document.json_schema).lower():
        looks_like = "; it looks like a SARIF log (it has $schema/runs)"
    elif document.findings:
        looks_like = "; it looks like a DefectDojo Generic Findings Import file"
    return ReportError(
        "not a Trivy JSON report: the object has none of the keys SchemaVersion, "
        f"Results, ClusterName or ArtifactName{looks_like}"
    )


# --- report shapes ---------------------------------------------------------------


def _legacy_report(results: list[Result]) -> ParsedReport:
    # Every pre-0.20 Result names its Target; a list of other objects is not Trivy's.
    if any(result.Target is None for result in results):
        raise ReportError("not a Trivy JSON report: a list whose items have no Target")
    findings = _findings(results, resource="", shared=_Shared())
    return ParsedReport(format="trivy-legacy", findings=tuple(findings))


def _object_report(document: ReportObject) -> ParsedReport:
    version = document.SchemaVersion
    if version is not None and version != 2:
        raise ReportError(f"unsupported Trivy SchemaVersion {version}: only 2 is known")
    if document.ClusterName is not None or document.Resources is not None:
        return _k8s_report(document)
    if version is None and document.Results is None and document.ArtifactName is None:
        raise _foreign_object_error(document)
    metadata_os = document.Metadata.OS if document.Metadata else None
    return ParsedReport(
        format="trivy-v2",
        artifact_name=document.ArtifactName or "",
        artifact_type=document.ArtifactType,
        schema_version=version,
        scanner_version=document.Trivy.Version if document.Trivy else "",
        created_at=document.CreatedAt,
        os_family=metadata_os.Family if metadata_os else "",
        os_name=metadata_os.Name if metadata_os else "",
        findings=tuple(_findings(document.Results or (), resource="", shared=_Shared())),
    )


def _k8s_report(document: ReportObject) -> ParsedReport:
    resources: Iterable[K8sResource] = (
        *(document.Resources or ()),
        *(document.Vulnerabilities or ()),
        *(document.Misconfigurations or ()),
    )
    shared = _Shared()
    # No Trivy version writes top-level Results next to ClusterName; kept if one does.
    findings = list(_findings(document.Results or (), "", shared))
    for resource in resources:
        # A resource Trivy failed to scan carries only Error and no Results.
        label = f"{resource.Namespace}/{resource.Kind}/{resource.Name}"
        findings.extend(_findings(resource.Results or (), label, shared))
    return ParsedReport(
        format="trivy-k8s",
        artifact_name=document.ClusterName or "",
        schema_version=document.SchemaVersion,
        scanner_version=document.Trivy.Version if document.Trivy else "",
        created_at=document.CreatedAt,
        findings=tuple(findings),
    )


def _findings(results: Iterable[Result], resource: str, shared: _Shared) -> Iterator[ParsedFinding]:
    for result in results:
        where = _Where(result.Class, result.Type, result.Target or "", resource)
        for vulnerability in result.Vulnerabilities or ():
            yield _vulnerability(vulnerability, where, shared)
        for check in result.Misconfigurations or ():
            if check.Status.upper() not in _NOT_FAILED:
                yield _misconfiguration(check, where)
        for secret in result.Secrets or ():
            yield _secret(secret, where)
        for license_ in result.Licenses or ():
            yield _license(license_, where)


# --- one finding per item ----------------------------------------------------------


def _vulnerability(item: Vulnerability, where: _Where, shared: _Shared) -> ParsedFinding:
    vendor_ids = item.VendorIDs or ()
    rule_id = item.VulnerabilityID or (vendor_ids[0] if vendor_ids else "") or UNKNOWN_ID
    layer = item.Layer
    return ParsedFinding(
        kind=FindingKind.VULNERABILITY,
        rule_id=rule_id,
        title=item.Title or rule_id,
        severity=_vulnerability_severity(item),
        description=item.Description,
        aliases=_unique(vendor_ids, exclude=rule_id),
        result_class=where.result_class,
        result_type=where.result_type,
        target=where.target,
        resource=where.resource,
        package_name=item.PkgName,
        package_id=item.PkgID,
        package_path=item.PkgPath,
        purl=item.PkgIdentifier.purl_text() if item.PkgIdentifier else "",
        installed_version=item.InstalledVersion,
        fixed_version=item.FixedVersion,
        status=item.Status,
        severity_source=item.SeveritySource,
        vendor_severity=shared.vendor_severity(item.VendorSeverity),
        cvss=shared.cvss(item),
        cwes=item.CweIDs or (),
        references=_references(item.References),
        primary_url=item.PrimaryURL,
        published=item.PublishedDate,
        last_modified=item.LastModifiedDate,
        layer_digest=layer.Digest if layer else "",
        layer_diff_id=layer.DiffID if layer else "",
    )


def _misconfiguration(item: Misconfiguration, where: _Where) -> ParsedFinding:
    rule_id = canonical_check_id(item.ID or item.AVDID) or UNKNOWN_ID
    cause = item.CauseMetadata
    cause_resource = cause.Resource if cause else ""
    layer = item.Layer
    return ParsedFinding(
        kind=FindingKind.MISCONFIGURATION,
        rule_id=rule_id,
        title=item.Title or rule_id,
        severity=_severity_of_label(item.Severity),
        description=item.Description,
        aliases=_unique((item.ID, item.AVDID), exclude=rule_id),
        result_class=where.result_class,
        result_type=where.result_type,
        target=where.target,
        resource="/".join(part for part in (where.resource, cause_resource) if part),
        status=item.Status,
        references=_references(item.References),
        primary_url=item.PrimaryURL,
        layer_digest=layer.Digest if layer else "",
        layer_diff_id=layer.DiffID if layer else "",
        start_line=cause.StartLine if cause else None,
        end_line=cause.EndLine if cause else None,
        message=item.Message,
        resolution=item.Resolution,
        category=item.Type,
    )


def _secret(item: Secret, where: _Where) -> ParsedFinding:
    rule_id = item.RuleID or item.VulnerabilityID or UNKNOWN_ID
    layer = item.Layer
    return ParsedFinding(
        kind=FindingKind.SECRET,
        rule_id=rule_id,
        title=item.Title or rule_id,
        severity=_severity_of_label(item.Severity),
        result_class=where.result_class,
        result_type=where.result_type,
        target=where.target,
        resource=where.resource,
        layer_digest=layer.Digest if layer else "",
        layer_diff_id=layer.DiffID if layer else "",
        start_line=item.StartLine,
        end_line=item.EndLine,
        # Match is already masked by Trivy; Code.Lines (unmasked context) is never read.
        message=item.Match,
        category=item.Category,
    )


def _license(item: License, where: _Where) -> ParsedFinding:
    name = item.Name or UNKNOWN_ID
    return ParsedFinding(
        kind=FindingKind.LICENSE,
        rule_id=name,
        title=f"License {name}",
        severity=_severity_of_label(item.Severity),
        description=item.Text,
        result_class=where.result_class,
        result_type=where.result_type,
        target=where.target,
        resource=where.resource,
        package_name=item.PkgName,
        package_path=item.FilePath,
        primary_url=item.Link,
        category=item.Category,
    )


# --- field helpers -------------------------------------------------------------------


def _vulnerability_severity(item: Vulnerability) -> Severity:
    """Trivy's Severity; if absent, a vendor's severity, then a vendor's CVSS score.

    Vendors are tried in the order SeveritySource, nvd, ghsa, redhat, bitnami; all
    VendorSeverity entries are tried before any CVSS block.
    """
    if item.Severity:
        return _severity_of_label(item.Severity)
    order = (item.SeveritySource, *_VENDOR_ORDER)
    vendor_severity = item.VendorSeverity or {}
    for source in order:
        if source in vendor_severity:
            return _severity_of_level(vendor_severity[source])
    cvss = item.CVSS or {}
    for source in order:
        if source in cvss:
            severity = cvss[source].rating()
            if severity is not None:
                return severity
    return Severity.INFO


def _severity_of_label(text: str) -> Severity:
    # The table is a fast path for Trivy's own labels; from_label handles the rest.
    severity = _SEVERITY_BY_LABEL.get(text)
    return Severity.from_label(text) if severity is None else severity


def _severity_of_level(level: int) -> Severity:
    """trivy-db's 0..4 (UNKNOWN..CRITICAL); anything out of range is INFO."""
    return _SEVERITY_BY_LEVEL.get(level, Severity.INFO)


def _vendor_severity(levels: dict[str, int]) -> tuple[tuple[str, str], ...]:
    return tuple(
        sorted(
            [
                (source, _LABEL_BY_LEVEL.get(level, Severity.INFO.label))
                for source, level in levels.items()
            ]
        )
    )


def _cvss(blocks: dict[str, CvssBlock]) -> tuple[Cvss, ...]:
    return tuple([block.to_cvss(source) for source, block in sorted(blocks.items())])


def _references(urls: tuple[str, ...] | None) -> tuple[str, ...]:
    if not urls:
        return ()
    # Old reports carry URLs with stray whitespace, and some an empty one.
    stripped = tuple(map(str.strip, urls))
    return tuple(filter(None, stripped)) if "" in stripped else stripped


def _unique(ids: tuple[str, ...], exclude: str) -> tuple[str, ...]:
    if not ids:
        return ()
    return tuple(dict.fromkeys(text for text in ids if text and text != exclude))
