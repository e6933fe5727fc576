"""The identity rule: when two report items are the same finding.

A finding is the same issue in the same place of the same product. Identity is a
hash of normalized fields only — never of free text such as titles or descriptions,
never of what changes with every build:

* vulnerability: id + package (ecosystem-normalized name) + location, where the
  location of an OS package is its OS family and that of a language package is its
  file path without versions; image tags, installed/fixed versions and severity are
  attributes, not identity;
* misconfiguration: canonical check id + file + cause resource (or message), no lines;
* secret: rule + file + masked match, and its rank among equal matches in the file;
* license: license name + package + file.

Kubernetes reports add the resource (namespace/Kind/name) to every key. Items of one
report that still share a key are told apart by their rank in the report, so that
every item the file holds becomes one finding.

The *attributes* of an occurrence (versions, severity, texts, CVSS, lines…) get a
second hash: when it changes between runs the finding stays the same and the change
is recorded in its trail.
"""

from __future__ import annotations

import hashlib

import msgspec

from vulntrail.identity import locations
from vulntrail.parsers.interface import FindingKind, ParsedFinding, ParsedReport


class IdentifiedFinding(msgspec.Struct, frozen=True, gc=False):
    finding: ParsedFinding
    identity: bytes  # 16-byte digest of the identity key
    location: str  # human-readable normalized location (part of the key)
    target: str  # report target with the artifact reference replaced by a placeholder
    attrs_hash: bytes  # 16-byte digest of the occurrence attributes


_encode = msgspec.json.Encoder().encode


def identify(report: ParsedReport) -> list[IdentifiedFinding]:
    """Identity and attribute hashes for every item of `report`, in report order."""
    seen: dict[tuple[str, ...], int] = {}
    out: list[IdentifiedFinding] = []
    for item in report.findings:
        key, location = identity_key(item, report.artifact_name)
        rank = seen.get(key, 0)
        seen[key] = rank + 1
        target = locations.target_template(item.target, report.artifact_name)
        out.append(
            IdentifiedFinding(
                finding=item,
                identity=_digest(_encode((*key, rank))),
                location=location,
                target=target,
                attrs_hash=_digest(_encode(occurrence_attributes(item, target))),
            )
        )
    return out


def identity_key(item: ParsedFinding, artifact_name: str = "") -> tuple[tuple[str, ...], str]:
    """The normalized fields that make a finding itself, and its readable location."""
    location = _location(item, artifact_name)
    rule = item.rule_id.strip()
    if item.kind is FindingKind.VULNERABILITY:
        rule = rule.upper()
        package = locations.package_key(item.result_type, item.package_name)
        return (item.kind.value, item.resource, rule, package, location), location
    if item.kind is FindingKind.MISCONFIGURATION:
        cause = item.resource or item.message
        return (item.kind.value, rule, location, cause), location
    if item.kind is FindingKind.SECRET:
        return (item.kind.value, item.resource, rule, location, item.message), location
    package = locations.package_key(item.result_type, item.package_name)
    return (item.kind.value, item.resource, rule, package, location), location


def occurrence_attributes(item: ParsedFinding, target: str) -> tuple[object, ...]:
    """What a run says about a finding, minus what changes with every rebuild.

    Layer digests and the image tag inside the target change on each build of an
    unchanged image; keeping them out is what lets an unchanged re-import write
    nothing per finding.
    """
    return (
        item.rule_id,
        item.title,
        int(item.severity),
        item.description,
        item.aliases,
        item.package_name,
        item.package_id,
        item.package_path,
        item.purl,
        item.installed_version,
        item.fixed_version,
        item.status,
        item.severity_source,
        item.vendor_severity,
        item.cvss,
        item.cwes,
        item.references,
        item.primary_url,
        item.published,
        item.last_modified,
        item.start_line,
        item.end_line,
        item.message,
        item.resolution,
        item.category,
        item.result_class,
        item.result_type,
        target,
    )


def _location(item: ParsedFinding, artifact_name: str) -> str:
    target = locations.target_template(item.target, artifact_name)
    if item.kind is FindingKind.VULNERABILITY and locations.is_os_result(
        item.result_class, item.result_type, item.target
    ):
        return "os:" + locations.os_family(item.result_type, item.target)
    path = item.package_path or target
    return locations.version_free_path(path, item.installed_version)


def _digest(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()
