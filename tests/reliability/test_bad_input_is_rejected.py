"""Issue #8 part 1: every malformed upload gets a 4xx JSON error naming the problem,
the server keeps serving, and the store is unchanged, byte for byte, afterwards.

The corpus is generated here; each case names what the answer must mention (a field
name or the reason). Every case runs against SQLite and PostgreSQL.
"""

from __future__ import annotations

import bz2
import functools
import gzip
import io
import json
import lzma
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from reliability_support import (
    Tally,
    compact_report,
    post_import,
    rejection_problems,
    report_document,
    serving,
    store_state,
)

from conftest import LiveServer
from vulntrail.parsers.interface import ReportError
from vulntrail.parsers.trivy import parse_trivy

VALID = compact_report(3)


@dataclass(frozen=True)
class Bad:
    """One bad upload: the report bytes (None: no file part) and form fields."""

    name: str
    report: bytes | None = VALID
    fields: dict[str, str | None] = field(default_factory=dict)
    names: tuple[str, ...] = ()  # the message names one of these (the reason)
    status: int | None = None
    field: str = "file"  # the error is reported under this field


def edited(edit: Callable[[dict[str, Any]], object]) -> bytes:
    """A valid report with one edit applied to its decoded JSON."""
    document = report_document(2)
    edit(document)
    return json.dumps(document).encode()


def vuln(document: dict[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = document["Results"][0]["Vulnerabilities"][0]
    return item


def _set(path: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> bytes:
    return edited(lambda d: path(d).__setitem__(key, value))


def _top(document: dict[str, Any]) -> dict[str, Any]:
    return document


def _result(document: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = document["Results"][0]
    return result


@functools.cache
def _gzip_bomb() -> bytes:
    """1 GiB of zeros, gzip-compressed to about 1 MB."""
    out = io.BytesIO()
    chunk = bytes(1 << 20)
    with gzip.GzipFile(fileobj=out, mode="wb", compresslevel=9) as archive:
        for _ in range(1024):
            archive.write(chunk)
    return out.getvalue()


def _zip(data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("trivy.json", data)
    return out.getvalue()


def truncations() -> list[Bad]:
    cuts = sorted({1, 2, 17, len(VALID) // 4, len(VALID) // 2, len(VALID) - 2, len(VALID) - 1})
    cases = [Bad(f"truncated at byte {cut}", VALID[:cut], names=("json",)) for cut in cuts]
    accented = json.dumps({"SchemaVersion": 2, "ArtifactName": "é" * 10}, ensure_ascii=False)
    raw = accented.encode()
    cut = raw[: raw.index(b"\xc3") + 1]
    cases.append(Bad("truncated inside a UTF-8 character", cut, names=("utf-8",)))
    return cases


def encodings() -> list[Bad]:
    text = VALID.decode()
    words = ("utf-8", "utf-16", "json")
    cases = [
        Bad("invalid UTF-8 byte in a string", VALID.replace(b"issue 0", b"issue \xff\xfe 0")),
        Bad("overlong UTF-8 encoding", VALID.replace(b"issue 0", b"issue \xc0\xaf 0")),
        Bad("UTF-8-encoded surrogate", VALID.replace(b"issue 0", b"issue \xed\xa0\x80 0")),
        Bad("lone surrogate escape", VALID.replace(b"issue 0", b"issue \\ud800 0")),
        Bad("UTF-16 with BOM", "\ufeff".encode("utf-16-le") + text.encode("utf-16-le")),
        Bad("UTF-16 without BOM", text.encode("utf-16-le")),
        Bad("UTF-32", text.encode("utf-32")),
        Bad(
            "Latin-1 text",
            json.dumps({"ArtifactName": "caf\xe9"}, ensure_ascii=False).encode("latin-1"),
        ),
        Bad("raw NUL byte between tokens", b'{"SchemaVersion":2,\x00"Results":[]}'),
        Bad("raw control character in a string", VALID.replace(b"issue 0", b"issue \x01 0")),
    ]
    return [Bad(case.name, case.report, names=words) for case in cases]


def wrong_shapes() -> list[Bad]:
    shapes: list[tuple[str, bytes]] = [
        ("top-level number", b"42"),
        ("top-level string", b'"Trivy Scan"'),
        ("top-level boolean", b"true"),
        ("top-level list of numbers", b"[1, 2]"),
        ("top-level list of strings", b'["a", "b"]'),
        ("top-level list of objects without Target", b"[{}]"),
        ("empty object", b"{}"),
        ("object with unknown keys only", b'{"foo": 1, "bar": [2]}'),
        ("Results is an object", _set(_top, "Results", {"Target": "x"})),
        ("Results is a string", _set(_top, "Results", "none")),
        ("Results is a number", _set(_top, "Results", 7)),
        ("Results holds numbers", _set(_top, "Results", [1, 2])),
        ("Results holds lists", _set(_top, "Results", [[]])),
        ("Results holds null", _set(_top, "Results", [None])),
        ("Vulnerabilities is an object", _set(_result, "Vulnerabilities", {})),
        ("Vulnerabilities is a string", _set(_result, "Vulnerabilities", "x")),
        ("Vulnerabilities holds numbers", _set(_result, "Vulnerabilities", [1])),
        ("Vulnerabilities holds null", _set(_result, "Vulnerabilities", [None])),
        ("Vulnerabilities holds lists", _set(_result, "Vulnerabilities", [[]])),
        ("SchemaVersion as a string", _set(_top, "SchemaVersion", "2")),
        ("SchemaVersion 3", _set(_top, "SchemaVersion", 3)),
        ("SchemaVersion as a float", _set(_top, "SchemaVersion", 2.5)),
        ("SchemaVersion as a boolean", _set(_top, "SchemaVersion", True)),
        ("SchemaVersion beyond 64 bits", _set(_top, "SchemaVersion", 10**30)),
        ("Metadata is a list", _set(_top, "Metadata", [])),
        ("VulnerabilityID as a number", _set(vuln, "VulnerabilityID", 123)),
        ("Severity as a number", _set(vuln, "Severity", 3)),
        ("InstalledVersion as a list", _set(vuln, "InstalledVersion", ["1.0"])),
        ("CVSS as a string", _set(vuln, "CVSS", "9.8")),
        ("CVSS score as a string", _set(vuln, "CVSS", {"nvd": {"V3Score": "9.8"}})),
        ("References as a string", _set(vuln, "References", "https://x")),
        ("Layer as a string", _set(vuln, "Layer", "sha256:00")),
        (
            "secret StartLine as a string",
            _set(_result, "Secrets", [{"RuleID": "x", "StartLine": "12"}]),
        ),
        ("misconfiguration as a list", _set(_result, "Misconfigurations", [["DS002"]])),
    ]
    words = ("expected", "not a trivy", "schemaversion")
    return [Bad(name, data, names=words) for name, data in shapes]


def deep_nesting() -> list[Bad]:
    depth = 100_000
    inside = VALID.replace(b'"Vulnerabilities":[', b'"Vulnerabilities":[' + b"[" * depth, 1)
    cases = [
        ("100,000 nested lists", b"[" * depth + b"]" * depth),
        ("100,000 nested objects", b'{"a":' * depth + b"1" + b"}" * depth),
        ("unclosed nesting", b"[" * depth),
        ("deep nesting inside Results", inside),
    ]
    return [Bad(name, data, names=("nested", "expected")) for name, data in cases]


def not_reports() -> list[Bad]:
    cyclonedx = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.5", "components": []})
    spdx = json.dumps({"spdxVersion": "SPDX-2.3", "SPDXID": "SPDXRef-DOCUMENT"})
    sarif = json.dumps({"$schema": "https://json.schemastore.org/sarif-2.1.0.json", "runs": []})
    generic = json.dumps({"findings": [{"title": "x", "severity": "High"}]})
    return [
        Bad("empty file", b"", names=("empty",)),
        Bad("whitespace only", b" \n\t\r\n ", names=("empty",)),
        Bad("plain text", b"hello, this is not a report\n", names=("json",)),
        Bad("Trivy table output", b"app (debian 12.5)\n======\nTotal: 3\n", names=("json",)),
        Bad("PNG image", b"\x89PNG\r\n\x1a\n" + bytes(64), names=("utf-8",)),
        Bad("XML", b'<?xml version="1.0"?><report><finding/></report>', names=("json",)),
        Bad("CSV", b"VulnerabilityID,PkgName\nCVE-1,openssl\n", names=("json",)),
        Bad("HTML page", b"<html><body><script>alert(1)</script></body></html>", names=("json",)),
        Bad("CycloneDX SBOM", cyclonedx.encode(), names=("cyclonedx",)),
        Bad("SPDX SBOM", spdx.encode(), names=("spdx",)),
        Bad("SARIF log", sarif.encode(), names=("sarif",)),
        Bad("DefectDojo generic findings", generic.encode(), names=("generic",)),
        Bad("JSON lines", VALID + b"\n" + VALID, names=("json",)),
        Bad("NaN literal", b'{"SchemaVersion": NaN}', names=("json",)),
    ]


def compressed() -> list[Bad]:
    words = ("compressed",)
    return [
        Bad("gzip bomb (1 GiB of zeros)", _gzip_bomb(), names=words),
        Bad("gzip-compressed report", gzip.compress(VALID), names=words),
        Bad("zip archive of a report", _zip(VALID), names=words),
        Bad("bzip2-compressed report", bz2.compress(VALID), names=words),
        Bad("xz-compressed report", lzma.compress(VALID), names=words),
    ]


def _field(name: str, case: str, value: str | None, *reason: str) -> Bad:
    return Bad(case, fields={name: value}, field=name, names=reason)


def form_fields() -> list[Bad]:
    ten_kb = "n" * 10_240
    cases = [
        Bad("missing file field", None, field="file", names=("required",)),
        Bad("file sent as a text field", None, {"file": VALID.decode()}, names=("file upload",)),
        _field("scan_type", "missing scan_type", None, "required"),
        _field("scan_type", "empty scan_type", "", "required"),
        _field("scan_type", "unknown scan_type", "Nessus Scan", "not supported"),
        _field("scan_type", "scan_type in lower case", "trivy scan", "not supported"),
        _field("scan_type", "scan_type with NUL", "Trivy Scan\x00", "nul"),
        _field("scan_type", "10 kB scan_type", ten_kb, "at most"),
        _field("auto_create_context", "auto_create_context maybe", "maybe", "true or false"),
        _field("engagement", "engagement id not a number", "abc", "whole number"),
        _field("engagement", "engagement id negative", "-1", "whole number"),
        _field("engagement", "engagement id in superscript digits", "\u00b2", "whole number"),
        _field(
            "engagement", "engagement id in Arabic-Indic digits", "\u0661\u0662", "whole number"
        ),
        _field("engagement", "engagement id of 20 digits", "9" * 20, "whole number"),
        _field(
            "engagement",
            "engagement id past 32 bits",
            "9999999999",
            "no engagement",
            "does not exist",
        ),
        _field(
            "engagement",
            "engagement id past 63 bits",
            "99999999999999999",
            "no engagement",
            "does not exist",
        ),
        _field("scan_date", "scan_date not a date", "yesterday", "yyyy-mm-dd"),
        _field("scan_date", "scan_date in the future", "2999-01-01", "future"),
        _field("scan_date", "scan_date impossible", "2024-13-45", "yyyy-mm-dd"),
        _field("minimum_severity", "minimum_severity unknown", "Severe", "one of"),
        _field("verified", "verified perhaps", "perhaps", "true or false"),
        _field("tags", "tag of 101 characters", "t" * 101, "at most"),
    ]
    names = ("product_name", "engagement_name", "product_type_name", "branch_tag", "commit_hash")
    for name in (*names, "build_id", "test_title", "version", "source_code_management_uri"):
        cases.append(_field(name, f"10 kB {name}", ten_kb, "at most"))
        cases.append(_field(name, f"NUL byte in {name}", "CI-main-\x001", "nul"))
    return cases


def reimport_fields() -> list[Bad]:
    return [
        Bad(
            "reimport test id past 32 bits",
            fields={"test": "9999999999"},
            field="test",
            names=("no test", "does not exist"),
        ),
        Bad(
            "reimport test id not a number",
            fields={"test": "x"},
            field="test",
            names=("whole number",),
        ),
    ]


CORPUS: dict[str, Callable[[], list[Bad]]] = {
    "truncated": truncations,
    "encoding": encodings,
    "wrong-shape": wrong_shapes,
    "deep-nesting": deep_nesting,
    "not-a-report": not_reports,
    "compressed": compressed,
    "form-fields": form_fields,
}


def _run_cases(
    client: httpx.Client, database_url: str, cases: list[Bad], *, endpoint: str
) -> list[str]:
    before = store_state(database_url)
    failures = []
    for case in cases:
        response = post_import(client, case.report, endpoint=endpoint, **case.fields)  # type: ignore[arg-type]
        problems = rejection_problems(response, case.names, status=case.status, field=case.field)
        if not serving(client):
            problems.append("the server stopped answering /healthz")
        if store_state(database_url) != before:
            problems.append("the store changed")
            before = store_state(database_url)
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}")
    return failures


@pytest.mark.parametrize("group", sorted(CORPUS))
def test_bad_upload_is_a_named_4xx_and_changes_nothing(live_server: LiveServer, group: str) -> None:
    cases = CORPUS[group]()
    tally = Tally(f"bad inputs [{group}]")
    with live_server.client() as client:
        # A store with data, so "unchanged" means something.
        assert (
            post_import(client, compact_report(5), engagement_name="CI-main-0").status_code == 201
        )
        failures = _run_cases(client, live_server.database_url, cases, endpoint="import-scan")
        if group == "form-fields":
            failures += _run_cases(
                client, live_server.database_url, reimport_fields(), endpoint="reimport-scan"
            )
    tally.add("cases", len(cases) + (2 if group == "form-fields" else 0))
    tally.report()
    assert not failures, "\n".join(failures)


def test_bodies_that_are_not_a_multipart_form_are_named_4xx(live_server: LiveServer) -> None:
    requests: list[tuple[str, dict[str, str], bytes]] = [
        ("JSON body", {"content-type": "application/json"}, VALID),
        ("plain text body", {"content-type": "text/plain"}, b"hello"),
        ("no content type", {}, VALID),
        ("multipart without boundary", {"content-type": "multipart/form-data"}, b"--x\r\n"),
        (
            "multipart with a wrong boundary",
            {"content-type": "multipart/form-data; boundary=abc"},
            b"--xyz\r\nnope\r\n--xyz--\r\n",
        ),
        (
            "multipart cut short",
            {"content-type": "multipart/form-data; boundary=b"},
            b'--b\r\nContent-Disposition: form-data; name="file"; filename="t.json"\r\n\r\n{"Sche',
        ),
        (
            "gzip content-encoding",
            {"content-type": "multipart/form-data; boundary=b", "content-encoding": "gzip"},
            gzip.compress(b"--b\r\n"),
        ),
    ]
    with live_server.client() as client:
        before = store_state(live_server.database_url)
        failures = []
        for name, headers, body in requests:
            response = client.post("/api/v2/import-scan/", content=body, headers=headers)
            problems = rejection_problems(
                response, ("multipart", "file", "content-encoding", "form")
            )
            if problems:
                failures.append(f"{name}: {'; '.join(problems)}")
        too_many = {f"field{n}": "x" for n in range(300)}
        response = client.post(
            "/api/v2/import-scan/", data=too_many, files={"file": ("t.json", VALID)}
        )
        failures += [f"300 fields: {p}" for p in rejection_problems(response, ("field",))]
        files = [("file", (f"t{n}.json", VALID, "application/json")) for n in range(3)]
        response = client.post(
            "/api/v2/import-scan/", data={"scan_type": "Trivy Scan"}, files=files
        )
        failures += [f"3 files: {p}" for p in rejection_problems(response, ("file",))]
        assert serving(client)
        assert store_state(live_server.database_url) == before
    assert not failures, "\n".join(failures)


def test_a_utf32_report_is_refused_as_utf32() -> None:
    body = "\ufeff".encode("utf-32-le") + VALID.decode().encode("utf-32-le")
    with pytest.raises(ReportError, match="UTF-32"):
        parse_trivy(body)
