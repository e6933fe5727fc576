"""Helpers of the web tests: users with passwords, logged-in HTTP clients, Chromium."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from conftest import corpus_file
from reports import import_scan
from vulntrail.auth.roles import Grant, parse_role
from vulntrail.auth.users import create_user, grant_role
from vulntrail.store.db import Sessions, make_engine

REPO = Path(__file__).resolve().parents[2]
# Most web tests run on SQLite only; the seed walk and the scale test run on both stores.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
SCREENSHOTS = REPO / "docs" / "screenshots"
PASSWORD = "correct horse battery staple"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def chromium_path() -> str:
    """Debian's Chromium; the real binary skips the wrapper script (faster, no stderr noise)."""
    for candidate in ("/usr/lib/chromium/chromium", "/usr/bin/chromium"):
        if os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError("Chromium is not installed (apt-get install chromium)")


def add_user(
    database_url: str,
    username: str,
    password: str = PASSWORD,
    *,
    admin: bool = False,
    role: str | None = "writer",
    products: str = "*",
) -> None:
    """A local user with a password and, unless `role` is None, one role on `products`."""
    engine = make_engine(database_url)
    try:
        with Sessions(engine).write() as session:
            user = create_user(session, username, password, admin=admin)
            if role is not None:
                grant_role(session, user, Grant(parse_role(role), products))
    finally:
        engine.dispose()


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def web_client(base_url: str, username: str, password: str = PASSWORD) -> httpx.Client:
    """An HTTP client logged in through the login form, like a browser."""
    client = httpx.Client(base_url=base_url, timeout=60, follow_redirects=False)
    form = client.get("/login")
    response = client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_from(form.text),
            "next": "/products",
        },
    )
    assert response.status_code == 303, response.text
    return client


@contextmanager
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


class PageProblems:
    """Console errors (a CSP violation is one), page errors and dialogs seen by a page."""

    def __init__(self, page: Page) -> None:
        self.messages: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.messages.append(f"pageerror: {error}"))
        page.on("dialog", self._dialog)

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.messages.append(f"console {message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.messages.append(f"dialog: {dialog.message}")
        dialog.dismiss()


def screenshot(page: Page, tmp_path: Path, name: str, *, publish: bool = True) -> Path:
    """Save a PNG of the viewport in the test's temp dir, and in docs/ when asked to."""
    target = tmp_path / f"{name}.png"
    page.screenshot(path=str(target))
    if publish and os.environ.get("VULNTRAIL_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(target.read_bytes())
    return target


# The parts of the SARIF 2.1.0 schema (sarif-schema-2.1.0.json) that consumers such as
# code-scanning uploads insist on: required members, their types and enumerations.
SARIF_MINIMAL_SCHEMA = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"const": "2.1.0"},
        "runs": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string", "minLength": 1},
                                    "version": {"type": "string"},
                                    "informationUri": {"type": "string", "format": "uri"},
                                    "rules": {
                                        "type": "array",
                                        "uniqueItems": True,
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "shortDescription": {"$ref": "#/$defs/message"},
                                                "fullDescription": {"$ref": "#/$defs/message"},
                                                "helpUri": {"type": "string", "format": "uri"},
                                                "defaultConfiguration": {
                                                    "type": "object",
                                                    "properties": {
                                                        "level": {"$ref": "#/$defs/level"}
                                                    },
                                                },
                                                "properties": {"type": "object"},
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": {"$ref": "#/$defs/level"},
                                "message": {"$ref": "#/$defs/message"},
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "properties": {
                                                            "uri": {
                                                                "type": "string",
                                                                "format": "uri-reference",
                                                            }
                                                        },
                                                    }
                                                },
                                            },
                                            "logicalLocations": {"type": "array"},
                                        },
                                    },
                                },
                                "partialFingerprints": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                            },
                        },
                    },
                },
            },
        },
    },
    "$defs": {
        "message": {
            "type": "object",
            "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
            "properties": {"text": {"type": "string"}},
        },
        "level": {"enum": ["none", "note", "warning", "error"]},
    },
}


# --- a small fleet of real reports, imported the way CI does ----------------------------

JUICE_OLD = "scb_juice-shop-v10.2.0.json"
JUICE_NEW = "scb_juice-shop-v12.10.2.json"


def _thinned(report: dict[str, Any], drop: Any) -> bytes:
    """The report without the vulnerabilities whose running index satisfies `drop`."""
    copy = json.loads(json.dumps(report))
    index = 0
    for result in copy.get("Results") or []:
        kept = []
        for vuln in result.get("Vulnerabilities") or []:
            if not drop(index):
                kept.append(vuln)
            index += 1
        if result.get("Vulnerabilities"):
            result["Vulnerabilities"] = kept
    return json.dumps(copy).encode()


def all_vulns(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for r in report.get("Results") or [] for v in r.get("Vulnerabilities") or []]


@dataclass
class Fleet:
    server_runs: dict[str, int]  # engagement name → id, of orchestrator-server
    latest: str  # name of the newest main run of orchestrator-server
    reopened_id: str  # a vulnerability id resolved by one run and back in a later one
    shared_id: str  # a vulnerability id that orchestrator-ui has too


def import_fleet(client: httpx.Client) -> Fleet:
    """orchestrator-server: 6 main runs + 1 branch run of the juice-shop image;
    orchestrator-ui: 2 runs of the older image; orchestrator-agent: one small report."""
    old = json.loads(corpus_file(JUICE_OLD))
    new = json.loads(corpus_file(JUICE_NEW))
    plan: list[tuple[str, dict[str, Any], Any]] = [
        ("CI-main-101", old, lambda i: i % 7 == 0),
        ("CI-main-102", old, lambda i: False),
        ("CI-main-103", new, lambda i: i % 4 == 0),
        ("CI-main-104", new, lambda i: i % 4 == 0 or i % 9 == 0),
        ("CI-main-105", new, lambda i: i % 4 == 0 or i % 5 == 0),
        ("CI-main-106", new, lambda i: i % 5 == 0),
    ]
    runs = {}
    for number, (name, report, drop) in enumerate(plan):
        response = import_scan(
            client,
            _thinned(report, drop),
            engagement=name,
            branch_tag="main",
            commit_hash=f"{0xA1B2C3 + number * 7919:07x}",
        )
        assert response.status_code == 201, response.text
        runs[name] = response.json()["engagement_id"]
    branch = import_scan(
        client,
        _thinned(new, lambda i: False),
        engagement="CI-feature-login-107",
        branch_tag="feature-login",
        commit_hash="f00dfee",
    )
    assert branch.status_code == 201, branch.text
    runs["CI-feature-login-107"] = branch.json()["engagement_id"]
    for name in ("CI-main-201", "CI-main-202"):
        ui = import_scan(
            client, _thinned(old, lambda i: i % 3 == 0), product="orchestrator-ui", engagement=name
        )
        assert ui.status_code == 201, ui.text
    agent = import_scan(
        client,
        corpus_file("trivy_alpine-39.json"),
        product="orchestrator-agent",
        engagement="CI-main-301",
    )
    assert agent.status_code == 201, agent.text
    vulns = all_vulns(new)
    reopened = next(
        v["VulnerabilityID"]
        for i, v in enumerate(vulns)
        # in 103 (not %4), gone in 104 (%9), back in 105 (not %5), reported once
        if i % 4 and i % 9 == 0 and i % 5 and _reported_once(vulns, v)
    )
    shared_ids = {v["VulnerabilityID"] for i, v in enumerate(all_vulns(old)) if i % 3}
    shared = next(
        v["VulnerabilityID"]
        for i, v in enumerate(vulns)
        if i % 5 and v["VulnerabilityID"] in shared_ids
    )
    return Fleet(runs, "CI-main-106", reopened, shared)


def _reported_once(vulns: list[dict[str, Any]], vuln: dict[str, Any]) -> bool:
    def key(v: dict[str, Any]) -> tuple[str, str, str]:
        return (v["VulnerabilityID"], v.get("PkgName", ""), v.get("PkgPath", ""))

    return sum(1 for v in vulns if key(v) == key(vuln)) == 1
