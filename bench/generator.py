"""Realistic Trivy SchemaVersion 2 image reports, and tracks of runs that churn.

Not a copy of the corpus: reports are generated with the shape of real ones (OS and
language packages over several targets, long descriptions, CVSS blocks from several
vendors, references, layers) so that any size can be produced.
"""

from __future__ import annotations

import json
import random
import zlib
from dataclasses import dataclass, replace
from typing import Any

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
SEVERITY_WEIGHTS = (5, 20, 40, 30, 5)
LANG_TARGETS = (
    (
        "Python",
        "python-pkg",
        "usr/local/lib/python3.11/site-packages/{name}-{version}.dist-info/METADATA",
    ),
    ("Node.js", "node-pkg", "app/node_modules/{name}/package.json"),
    ("Java", "jar", "app/lib/{name}-{version}.jar"),
    ("usr/local/bin/server", "gobinary", ""),
)
WORDS = [
    "buffer",
    "overflow",
    "in",
    "the",
    "parser",
    "allows",
    "remote",
    "attackers",
    "to",
    "cause",
    "a",
    "denial",
    "of",
    "service",
    "or",
    "possibly",
    "execute",
    "arbitrary",
    "code",
    "via",
    "a",
    "crafted",
    "request",
    "when",
    "the",
    "server",
    "processes",
    "untrusted",
    "input",
    "with",
    "a",
    "malformed",
    "header",
    "and",
    "insufficient",
    "bounds",
    "checking",
    "in",
    "the",
    "decoding",
    "routine",
]


@dataclass(frozen=True)
class Item:
    """One vulnerability of one package in one place; `version`/`severity` may churn."""

    vuln_id: str
    package: str
    version: str
    severity: str
    target: int  # index into LANG_TARGETS, or -1 for the OS packages
    fixed: str

    def to_trivy(self, build: random.Random) -> dict[str, Any]:
        """Advisory texts depend on the vulnerability alone; digests change with every build."""
        rng = random.Random(self.vuln_id)
        score = {"CRITICAL": 9.8, "HIGH": 7.5, "MEDIUM": 5.3, "LOW": 3.1, "UNKNOWN": 0.0}[
            self.severity
        ]
        description = " ".join(rng.choice(WORDS) for _ in range(rng.randint(60, 220)))
        item: dict[str, Any] = {
            "VulnerabilityID": self.vuln_id,
            "PkgID": f"{self.package}@{self.version}",
            "PkgName": self.package,
            "PkgIdentifier": {
                "PURL": f"pkg:generic/{self.package}@{self.version}",
                "UID": f"{zlib.crc32(self.package.encode() + self.version.encode()):016x}",
            },
            "InstalledVersion": self.version,
            "FixedVersion": self.fixed,
            "Status": "fixed" if self.fixed else "affected",
            "Layer": {
                "Digest": f"sha256:{build.getrandbits(256):064x}",
                "DiffID": f"sha256:{build.getrandbits(256):064x}",
            },
            "SeveritySource": "nvd",
            "PrimaryURL": f"https://avd.aquasec.com/nvd/{self.vuln_id.lower()}",
            "DataSource": {
                "ID": "debian",
                "Name": "Debian Security Tracker",
                "URL": "https://salsa.debian.org/security-tracker-team/security-tracker",
            },
            "Title": f"{self.package}: {' '.join(rng.choice(WORDS) for _ in range(8))}",
            "Description": description,
            "Severity": self.severity,
            "CweIDs": [f"CWE-{rng.randint(20, 1300)}"],
            "VendorSeverity": {
                "nvd": SEVERITIES.index(self.severity) and 4 - SEVERITIES.index(self.severity),
                "redhat": rng.randint(1, 4),
            },
            "CVSS": {
                "nvd": {
                    "V3Vector": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
                    "V3Score": score,
                    "V2Vector": "AV:N/AC:L/Au:N/C:P/I:P/A:P",
                    "V2Score": 7.5,
                },
                "redhat": {
                    "V3Vector": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
                    "V3Score": max(0.0, score - 1),
                },
            },
            "References": [
                f"https://security.example.org/{self.vuln_id}/{n}"
                for n in range(rng.randint(4, 14))
            ],
            "PublishedDate": "2023-05-01T15:15:09.123Z",
            "LastModifiedDate": "2024-02-11T03:15:07.877Z",
        }
        if self.target >= 0 and LANG_TARGETS[self.target][2]:
            item["PkgPath"] = LANG_TARGETS[self.target][2].format(
                name=self.package, version=self.version
            )
        return item


def initial_items(count: int, seed: int = 1) -> list[Item]:
    rng = random.Random(seed)
    items = []
    for n in range(count):
        target = -1 if rng.random() < 0.4 else rng.randrange(len(LANG_TARGETS))
        package = f"pkg{n // 3}-{rng.choice(('core', 'utils', 'http', 'crypto', 'xml'))}"
        major = rng.randint(0, 9)
        items.append(
            Item(
                vuln_id=f"CVE-{rng.randint(2015, 2025)}-{10000 + n}",
                package=package,
                version=f"{major}.{rng.randint(0, 20)}.{rng.randint(0, 9)}",
                severity=rng.choices(SEVERITIES, SEVERITY_WEIGHTS)[0],
                target=target,
                fixed=f"{major}.{rng.randint(21, 40)}.0" if rng.random() < 0.7 else "",
            )
        )
    return items


def churn(
    items: list[Item], rng: random.Random, share: float = 0.01, next_id: int = 10**6
) -> list[Item]:
    """The next run: about `share` of findings resolved, introduced, upgraded or re-scored."""
    out = []
    for item in items:
        roll = rng.random()
        if roll < share / 4:
            continue  # resolved
        if roll < share / 2:
            item = replace(item, version=item.version + ".1")  # upgraded, still vulnerable
        elif roll < 3 * share / 4:
            item = replace(item, severity=rng.choice(SEVERITIES))  # re-scored upstream
        out.append(item)
    for n in range(max(1, int(len(items) * share / 4))):
        out.append(
            Item(f"CVE-2026-{next_id + n}", f"newpkg{next_id + n}", "1.0.0", "HIGH", -1, "1.0.1")
        )
    return out


def report(
    items: list[Item], *, image: str = "registry.example.test/team/app", tag: str = "1"
) -> bytes:
    rng = random.Random(tag)
    artifact = f"{image}:{tag}"
    results: list[dict[str, Any]] = [
        {
            "Target": f"{artifact} (debian 12.5)",
            "Class": "os-pkgs",
            "Type": "debian",
            "Vulnerabilities": [],
        }
    ]
    for target, kind, _ in LANG_TARGETS:
        results.append(
            {"Target": target, "Class": "lang-pkgs", "Type": kind, "Vulnerabilities": []}
        )
    for item in items:
        results[item.target + 1]["Vulnerabilities"].append(item.to_trivy(rng))
    body = {
        "SchemaVersion": 2,
        "CreatedAt": "2026-11-01T10:00:00.000000000Z",
        "ArtifactName": artifact,
        "ArtifactType": "container_image",
        "Metadata": {
            "OS": {"Family": "debian", "Name": "12.5"},
            "ImageID": f"sha256:{rng.getrandbits(256):064x}",
            "RepoTags": [artifact],
        },
        "Results": results,
    }
    return json.dumps(body, indent=2).encode()
