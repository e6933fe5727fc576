"""Issue #8 part 1, the valid half: extreme but valid reports and names are imported
faithfully — what goes in is what the API gives back — and the size limit is a clear 413.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import time
from typing import Any

import httpx
import pytest
from reliability_support import (
    LONG,
    compact_report,
    count_rows,
    post_import,
    rejection_problems,
    report_document,
    row_counts,
    serving,
    store_state,
)

from conftest import TOKEN, LiveServer, start_server
from vulntrail.config import Settings

# SQL and HTML metacharacters, quoting, comment starters, a path, a format string.
NASTY = "x'; DROP TABLE findings;-- \" <script>alert(1)</script> & %s %(x)s {0} \\ ` $(id) ../../etc/passwd"


def all_findings(client: httpx.Client, **params: Any) -> list[dict[str, Any]]:
    params.setdefault("limit", 1000)
    response = client.get("/api/v2/findings/", params=params)
    assert response.status_code == 200, response.text[:300]
    return list(response.json()["results"])


EMPTY_REPORTS = {
    "empty Results": b'{"SchemaVersion": 2, "ArtifactName": "app:1", "Results": []}',
    "no Results": b'{"SchemaVersion": 2, "ArtifactName": "app:1"}',
    "null Vulnerabilities": b'{"SchemaVersion": 2, "ArtifactName": "app:1", "Results": [{"Target": "x", "Vulnerabilities": null}]}',
    "null": b"null",
    "empty legacy list": b"[]",
}


def test_reports_with_no_findings_import_as_empty_tests(api: httpx.Client) -> None:
    for n, (name, body) in enumerate(EMPTY_REPORTS.items()):
        response = post_import(api, body, engagement_name=f"CI-main-{n}")
        assert response.status_code == 201, f"{name}: {response.text[:300]}"
        assert response.json()["statistics"]["after"]["total"]["total"] == 0, name
        test = api.get(f"/api/v2/tests/{response.json()['test_id']}/").json()
        assert test["finding_count"] == 0, name


def test_200000_findings_import_whole_and_a_retry_changes_nothing(live_server: LiveServer) -> None:
    if live_server.database_url.startswith("postgresql") and not LONG:
        pytest.skip("200,000 findings on PostgreSQL run under VULNTRAIL_LONG_TESTS=1")
    count = 200_000
    body = compact_report(count)
    with live_server.client() as client:
        client.timeout = httpx.Timeout(600)
        started = time.perf_counter()
        response = post_import(client, body)
        took = time.perf_counter() - started
        assert response.status_code == 201, response.text[:300]
        assert response.json()["statistics"]["after"]["total"]["total"] == count
        page = client.get("/api/v2/findings/", params={"limit": 1, "active": "true"}).json()
        assert page["count"] == count
        # The audit log records the retried call too; nothing else changes.
        before = row_counts(live_server.database_url)
        again = post_import(client, body)
        assert again.status_code == 201 and again.json()["test_id"] == response.json()["test_id"]
        before["audit_events"] = before.get("audit_events", 0) + 1
        assert row_counts(live_server.database_url) == before
    print(f"\n[reliability] 200,000 findings ({len(body) / 1e6:.0f} MB) imported in {took:.1f}s")


def test_10_mb_descriptions_are_kept_to_the_byte(api: httpx.Client) -> None:
    size = 10 * 1024 * 1024
    seeds = ["é\U0001f512<b>&amp;</b>'\"\\", "A", "\u2028\u2029"]
    texts = [seed * (size // len(seed.encode())) for seed in seeds]
    document = report_document(3)
    for item, text in zip(document["Results"][0]["Vulnerabilities"], texts, strict=True):
        item["Description"] = text
    body = json.dumps(document, ensure_ascii=False).encode()
    assert len(body) > 30 * 1024 * 1024
    response = post_import(api, body)
    assert response.status_code == 201, response.text[:300]
    stored = {f["vulnerability_ids"][0]["vulnerability_id"]: f["id"] for f in all_findings(api)}
    for item, text in zip(document["Results"][0]["Vulnerabilities"], texts, strict=True):
        finding = api.get(f"/api/v2/findings/{stored[item['VulnerabilityID']]}/").json()
        assert finding["description"] == text


def test_metacharacters_in_every_string_field_are_stored_and_returned_as_sent(
    api: httpx.Client, live_server: LiveServer
) -> None:
    document = report_document(1)
    item = document["Results"][0]["Vulnerabilities"][0]
    for key in ("VulnerabilityID", "PkgName", "InstalledVersion", "FixedVersion", "Title", "PkgID"):
        item[key] = f"{key}:{NASTY}"
    item["Description"] = NASTY
    item["References"] = [NASTY, "https://example.test/?a=1&b=<2>"]
    document["ArtifactName"] = NASTY
    document["Results"][0]["Target"] = NASTY
    fields = {
        "product_name": f"product {NASTY}"[:255],
        "product_type_name": f"type {NASTY}"[:255],
        "engagement_name": f"CI-{NASTY}-7"[:255],
        "branch_tag": f"feature/{NASTY}"[:255],
        "commit_hash": f"c{NASTY}"[:255],
        "build_id": f"b{NASTY}"[:255],
        "test_title": f"t{NASTY}"[:255],
        "version": f"v{NASTY}"[:100],
        "tags": "a<b>,c'd",
    }
    response = post_import(api, json.dumps(document).encode(), **fields)
    assert response.status_code == 201, response.text[:300]
    body = response.json()
    engagement = api.get(f"/api/v2/engagements/{body['engagement_id']}/").json()
    assert engagement["name"] == fields["engagement_name"]
    assert engagement["commit_hash"] == fields["commit_hash"]
    products = api.get("/api/v2/products/", params={"name_exact": fields["product_name"]}).json()
    assert products["count"] == 1
    test = api.get(f"/api/v2/tests/{body['test_id']}/").json()
    assert (test["title"], test["build_id"], test["artifact_name"]) == (
        fields["test_title"],
        fields["build_id"],
        NASTY,
    )
    [finding] = all_findings(api, product_name=fields["product_name"])
    assert finding["vulnerability_ids"][0]["vulnerability_id"] == item["VulnerabilityID"]
    assert (finding["title"], finding["description"]) == (item["Title"], NASTY)
    assert finding["component_name"] == item["PkgName"]
    assert finding["component_version"] == item["InstalledVersion"]
    assert finding["references"].split("\n") == item["References"]
    # Looked up by the same strings, they are found again; nothing else was touched.
    by_title = all_findings(api, title=item["Title"], product_name=fields["product_name"])
    assert [f["id"] for f in by_title] == [finding["id"]]
    assert count_rows(live_server.database_url, "findings") == 1


PATH_TRICKS = [
    "CI-main-../../../etc/passwd-12",
    "../CI-main-1",
    "CI-main-..\\..\\windows-3",
    "CI-main-%2e%2e%2f-4",
    "CI-ünïcødé-🔒-\u202ertl-5",
    "CI-main-" + "9" * 247,
]


def test_engagement_and_product_names_with_path_tricks_are_plain_names(api: httpx.Client) -> None:
    for name in PATH_TRICKS:
        response = post_import(
            api, compact_report(2), engagement_name=name, product_name="../" + name[:200]
        )
        assert response.status_code == 201, f"{name!r}: {response.text[:300]}"
        engagement = api.get(f"/api/v2/engagements/{response.json()['engagement_id']}/").json()
        assert engagement["name"] == name
        assert api.get("/api/v2/engagements/", params={"name": name}).json()["count"] == 1
        products = api.get("/api/v2/products/", params={"name_exact": "../" + name[:200]}).json()
        assert products["count"] == 1


def test_nul_and_control_characters_in_report_strings_are_imported(
    api: httpx.Client, live_server: LiveServer, request: pytest.FixtureRequest
) -> None:
    """JSON may escape any character, \\u0000 too: such a report is valid and must import
    on both engines, NUL kept, replaced by U+FFFD or dropped (PostgreSQL text cannot
    hold NUL); never a 5xx, and a refusal changes nothing."""
    before = store_state(live_server.database_url)
    sent = "a\u0000b\u0001c\u001fd\u007f"
    document = report_document(2)
    document["Results"][0]["Vulnerabilities"][0]["Title"] = sent
    document["Results"][0]["Vulnerabilities"][1]["Description"] = "x\u0000" * 10
    response = post_import(api, json.dumps(document).encode())
    assert serving(api)
    if response.status_code != 201:
        assert not rejection_problems(response, ("nul", "0x00")), response.text
        assert store_state(live_server.database_url) == before
    assert response.status_code == 201, response.text[:300]
    titles = {f["title"] for f in all_findings(api)}
    assert titles & {sent, sent.replace("\x00", "\ufffd"), sent.replace("\x00", "")}


LONG_STRING_PLACES = [
    ("vuln", "VulnerabilityID"),
    ("vuln", "PkgName"),
    ("vuln", "InstalledVersion"),
    ("vuln", "Title"),
    ("result", "Target"),
    ("top", "ArtifactName"),
]


def _shown(finding: dict[str, Any], key: str) -> str | None:
    value = {
        "VulnerabilityID": finding["vulnerability_ids"][0]["vulnerability_id"],
        "PkgName": finding["component_name"],
        "InstalledVersion": finding["component_version"],
        "Title": finding["title"],
        "Target": finding["target"],
    }.get(key)
    return str(value) if value is not None else None


def test_10_kb_strings_in_the_report_are_kept_or_cut_at_255(
    api: httpx.Client, live_server: LiveServer
) -> None:
    """Long identity fields are cut to their 255-character columns, the same on both
    engines (the uploaded file itself is kept whole); free text is kept whole."""
    for n, (where, key) in enumerate(LONG_STRING_PLACES):
        document = report_document(1, start=n)
        owner = {
            "vuln": document["Results"][0]["Vulnerabilities"][0],
            "result": document["Results"][0],
            "top": document,
        }[where]
        sent = owner[key] = "k" * 10_240
        product = f"long-{n}"
        response = post_import(api, json.dumps(document).encode(), product_name=product)
        assert response.status_code == 201, f"{key}: {response.text[:300]}"
        [finding] = all_findings(api, product_name=product)
        shown = _shown(finding, key)
        assert shown is None or shown == sent or (len(shown) == 255 and sent.startswith(shown)), key
    assert serving(api)


def test_huge_line_numbers_in_the_report_are_kept_or_refused_by_name(
    api: httpx.Client, live_server: LiveServer
) -> None:
    for n, value in enumerate([2**31, 2**63, -1, 10**30]):
        before = store_state(live_server.database_url)
        document = report_document(1, start=n)
        secret = {
            "RuleID": "aws-access-key-id",
            "Severity": "CRITICAL",
            "Title": "AWS",
            "StartLine": value,
            "EndLine": value,
            "Match": "AKIA****",
        }
        document["Results"].append({"Target": "app/.env", "Class": "secret", "Secrets": [secret]})
        response = post_import(api, json.dumps(document).encode(), engagement_name=f"CI-main-{n}")
        if response.status_code != 201:
            problems = rejection_problems(response, ("range", "large", "startline", "int"))
            assert not problems, f"{value}: {problems}"
            assert store_state(live_server.database_url) == before, value
        assert serving(api), value


def test_size_limit_from_the_environment_is_a_413_at_the_boundary(live_server: LiveServer) -> None:
    report = compact_report(40)
    settings = Settings.from_env(
        {
            "VULNTRAIL_DATABASE_URL": live_server.database_url,
            "VULNTRAIL_BOOTSTRAP_TOKEN": TOKEN,
            "VULNTRAIL_MAX_UPLOAD_BYTES": str(len(report)),
        }
    )
    server, thread, url = start_server(settings)
    try:
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Token {TOKEN}"}, timeout=120
        ) as client:
            before = store_state(live_server.database_url)
            over = post_import(client, report + b" ")
            assert not rejection_problems(over, (str(len(report)),), status=413, field="file")
            assert store_state(live_server.database_url) == before
            exact = post_import(client, report)
            assert exact.status_code == 201, exact.text[:300]
            assert serving(client)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


def test_upload_without_content_length_past_the_limit_is_413_before_it_ends(
    live_server: LiveServer,
) -> None:
    """A chunked upload declares no size: the server must answer 413 once the body is
    past the limit, without waiting for (and holding) the rest of it."""
    limit = 64 * 1024
    settings = Settings(
        database_url=live_server.database_url, bootstrap_token=TOKEN, max_upload_bytes=limit
    )
    server, thread, url = start_server(settings)
    port = int(url.rsplit(":", 1)[1])
    head = (
        "POST /api/v2/import-scan/ HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Token {TOKEN}\r\nTransfer-Encoding: chunked\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\n\r\n"
    ).encode()
    preamble = b'--b\r\nContent-Disposition: form-data; name="file"; filename="t.json"\r\n\r\n'
    chunk = b" " * 65536
    sent, answer = 0, b""
    before = store_state(live_server.database_url)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(head + b"%x\r\n%s\r\n" % (len(preamble), preamble))
            while sent < 64 * 1024 * 1024 and not answer:
                try:
                    sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                except OSError:
                    break  # the server closed the connection after answering
                sent += len(chunk)
                if select.select([sock], [], [], 0)[0]:
                    answer = sock.recv(65536)
            if not answer:
                sock.settimeout(10)
                with contextlib.suppress(OSError):
                    answer = sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
        assert str(limit).encode() in answer
        assert sent < 16 * 1024 * 1024, f"the server took {sent} bytes past a {limit}-byte limit"
        assert store_state(live_server.database_url) == before
        assert httpx.get(url + "/healthz").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=30)
