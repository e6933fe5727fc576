"""The advisory part of a Trivy vulnerability item: what depends on the CVE and package alone.

Texts, CVSS blocks, references and dates are derived from a seed (the vulnerability id and
package), so the same advisory reads the same in every run and every product, as in a real
vulnerability database; only the severity and versions come from the caller.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNKNOWN")
SEVERITY_WEIGHTS = (5, 20, 40, 30, 5)
_SCORE = {"CRITICAL": 9.8, "HIGH": 7.5, "MEDIUM": 5.3, "LOW": 3.1, "UNKNOWN": 0.0}
_VECTORS = (
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
)
_TEXT = (
    "buffer overflow in the parser allows remote attackers to cause a denial of service or "
    "possibly execute arbitrary code via a crafted request when the server processes "
    "untrusted input with a malformed header and insufficient bounds checking in the "
    "decoding routine of the library use after free integer underflow out of bounds read "
    "heap memory certificate validation bypass regular expression catastrophic backtracking "
    "prototype pollution path traversal through symbolic links in archives extracted by the "
    "package manager"
)
_WORDS = _TEXT.split()
_PROJECTS = ("openssl", "glibc", "curl", "libxml2", "zlib", "expat", "systemd", "python", "node")
_DATA_SOURCES = {
    "os": (
        "debian",
        "Debian Security Tracker",
        "https://salsa.debian.org/security-tracker-team/security-tracker",
    ),
    "ghsa": (
        "ghsa",
        "GitHub Security Advisory pip",
        "https://github.com/advisories?query=type%3Areviewed",
    ),
    "go": ("go-vulndb", "The Go Vulnerability Database", "https://pkg.go.dev/vuln/"),
}


@dataclass(frozen=True, slots=True)
class Place:
    """Where a package lives in the image: one Trivy result, and the package path shape."""

    target: str  # "{artifact}" stands for the image reference of the build
    result_class: str
    result_type: str
    path: str  # PkgPath pattern; "" when Trivy reports none
    purl: str
    source: str  # key of _DATA_SOURCES


PLACES = (
    Place(
        "{artifact} (debian 12.5)",
        "os-pkgs",
        "debian",
        "",
        "pkg:deb/debian/{name}@{version}?arch=amd64&distro=debian-12.5",
        "os",
    ),
    Place(
        "Python",
        "lang-pkgs",
        "python-pkg",
        "usr/local/lib/python3.11/site-packages/{name}-{version}.dist-info/METADATA",
        "pkg:pypi/{name}@{version}",
        "ghsa",
    ),
    Place(
        "Node.js",
        "lang-pkgs",
        "node-pkg",
        "app/node_modules/{name}/package.json",
        "pkg:npm/{name}@{version}",
        "ghsa",
    ),
    Place(
        "Node.js",
        "lang-pkgs",
        "node-pkg",
        "app/admin/node_modules/{name}/package.json",
        "pkg:npm/{name}@{version}",
        "ghsa",
    ),
    Place(
        "Java",
        "lang-pkgs",
        "jar",
        "app/lib/{name}-{version}.jar",
        "pkg:maven/org.example/{name}@{version}",
        "ghsa",
    ),
    Place(
        "usr/local/bin/server",
        "lang-pkgs",
        "gobinary",
        "",
        "pkg:golang/github.com/example/{name}@v{version}",
        "go",
    ),
)
PLACE_WEIGHTS = (45, 15, 15, 5, 12, 8)


def advisory(vuln_id: str, package: str, severity: str) -> dict[str, Any]:
    """The fields of a vulnerability item that come from the advisory database."""
    rng = random.Random(vuln_id + package)
    score = _SCORE[severity]
    words = rng.choices(_WORDS, k=rng.randint(60, 220))
    words[0] = words[0].capitalize()
    project = rng.choice(_PROJECTS)
    vendor = SEVERITIES.index(severity)
    return {
        "SeveritySource": rng.choice(("nvd", "debian", "ghsa")),
        "PrimaryURL": f"https://avd.aquasec.com/nvd/{vuln_id.lower()}",
        "Title": f"{package}: {' '.join(rng.choices(_WORDS, k=rng.randint(4, 10)))}",
        "Description": " ".join(words) + ".",
        "Severity": severity,
        "CweIDs": [f"CWE-{rng.randint(20, 1300)}" for _ in range(rng.choice((1, 1, 1, 2)))],
        "VendorSeverity": {
            "nvd": 0 if vendor == 4 else 4 - vendor,
            "redhat": rng.randint(1, 4),
            "ghsa": rng.randint(1, 4),
        },
        "CVSS": {
            "nvd": {
                "V3Vector": rng.choice(_VECTORS),
                "V3Score": score,
                "V2Vector": "AV:N/AC:L/Au:N/C:P/I:P/A:P",
                "V2Score": round(max(0.0, score - 2.3), 1),
            },
            "redhat": {"V3Vector": rng.choice(_VECTORS), "V3Score": max(0.0, score - 1)},
        },
        "References": [
            f"https://www.cve.org/CVERecord?id={vuln_id}",
            f"https://nvd.nist.gov/vuln/detail/{vuln_id}",
            *(
                f"https://github.com/{project}/{project}/commit/{rng.getrandbits(160):040x}"
                for _ in range(rng.randint(1, 6))
            ),
            *(
                f"https://lists.debian.org/debian-lts-announce/2024/0{rng.randint(1, 9)}/msg000{n}.html"
                for n in range(rng.randint(1, 6))
            ),
        ],
        "PublishedDate": f"20{rng.randint(15, 25)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}T15:15:09.123Z",
        "LastModifiedDate": "2025-02-11T03:15:07.877Z",
    }


def data_source(place: Place) -> dict[str, str]:
    ident, name, url = _DATA_SOURCES[place.source]
    return {"ID": ident, "Name": name, "URL": url}
