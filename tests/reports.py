"""Small Trivy reports built in tests, and the seed's import call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class Vuln:
    id: str
    pkg: str
    version: str = "1.0.0"
    severity: str = "HIGH"
    fixed: str = ""
    path: str = ""
    title: str = ""

    def as_trivy(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "VulnerabilityID": self.id,
            "PkgID": f"{self.pkg}@{self.version}",
            "PkgName": self.pkg,
            "InstalledVersion": self.version,
            "FixedVersion": self.fixed,
            "Status": "fixed" if self.fixed else "affected",
            "Severity": self.severity,
            "Title": self.title or f"{self.pkg}: issue {self.id}",
            "Description": f"Description of {self.id} in {self.pkg}.",
            "References": [f"https://example.test/{self.id}"],
            "Layer": {"Digest": "sha256:" + "ab" * 32, "DiffID": "sha256:" + "cd" * 32},
        }
        if self.path:
            item["PkgPath"] = self.path
        return item


@dataclass
class Report:
    artifact: str = "registry.example.test/app:1"
    os_vulns: list[Vuln] = field(default_factory=list)
    pip_vulns: list[Vuln] = field(default_factory=list)
    secrets: list[dict[str, Any]] = field(default_factory=list)
    misconfigs: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> bytes:
        results: list[dict[str, Any]] = [
            {
                "Target": f"{self.artifact} (debian 12.5)",
                "Class": "os-pkgs",
                "Type": "debian",
                "Vulnerabilities": [v.as_trivy() for v in self.os_vulns],
            }
        ]
        if self.pip_vulns:
            results.append(
                {
                    "Target": "Python",
                    "Class": "lang-pkgs",
                    "Type": "python-pkg",
                    "Vulnerabilities": [v.as_trivy() for v in self.pip_vulns],
                }
            )
        if self.secrets:
            results.append({"Target": "app/config.env", "Class": "secret", "Secrets": self.secrets})
        if self.misconfigs:
            results.append(
                {
                    "Target": "Dockerfile",
                    "Class": "config",
                    "Type": "dockerfile",
                    "Misconfigurations": self.misconfigs,
                }
            )
        return json.dumps(
            {
                "SchemaVersion": 2,
                "ArtifactName": self.artifact,
                "ArtifactType": "container_image",
                "Metadata": {"OS": {"Family": "debian", "Name": "12.5"}},
                "Results": results,
            }
        ).encode()


def import_scan(
    client: httpx.Client,
    report: bytes,
    *,
    product: str = "orchestrator-server",
    engagement: str = "CI-main-1",
    endpoint: str = "import-scan",
    **fields: str,
) -> httpx.Response:
    """The seed's CI call: multipart with scan_type, file and the engagement naming."""
    data = {
        "scan_type": "Trivy Scan",
        "product_name": product,
        "engagement_name": engagement,
        "auto_create_context": "true",
        **fields,
    }
    return client.post(
        f"/api/v2/{endpoint}/",
        data=data,
        files={"file": ("trivy.json", report, "application/json")},
    )


def findings(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    params.setdefault("limit", 1000)
    response = client.get("/api/v2/findings/", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["results"])
