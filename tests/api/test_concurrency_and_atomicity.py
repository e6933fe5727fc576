"""Invariants 6 and 7: imports are all or nothing, and concurrent imports never collide."""

from __future__ import annotations

import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from sqlalchemy import create_engine, text

from conftest import ServerProcess
from dbstate import snapshot
from reports import Report, Vuln, import_scan


def _duplicates(database_url: str) -> int:
    engine = create_engine(database_url)
    with engine.connect() as conn:
        value = conn.execute(
            text(
                "SELECT COUNT(*) - COUNT(DISTINCT product_id || ':' || encode_id) FROM "
                "(SELECT product_id, "
                + (
                    "hex(identity)"
                    if database_url.startswith("sqlite")
                    else "encode(identity, 'hex')"
                )
                + " AS encode_id FROM findings) AS f"
            )
        ).scalar()
    engine.dispose()
    return int(value or 0)


def _report(n: int, size: int = 200) -> bytes:
    vulns = [Vuln(f"CVE-2023-{i:05d}", f"pkg{i}", f"1.{n % 3}") for i in range(size)]
    return Report(f"reg.test/app:{n}", vulns).to_json()


def test_concurrent_imports_into_one_and_many_products_never_duplicate(live_server):
    jobs = [(f"svc-{n % 3}", f"CI-main-{n}", _report(n)) for n in range(12)]

    def post(job):
        product, engagement, body = job
        with live_server.client() as client:
            return import_scan(client, body, product=product, engagement=engagement)

    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(pool.map(post, jobs))
    assert [r.status_code for r in responses] == [201] * len(jobs), [
        r.text[:200] for r in responses if r.status_code != 201
    ]
    assert _duplicates(live_server.database_url) == 0
    with live_server.client() as client:
        for product in ("svc-0", "svc-1", "svc-2"):
            body = client.get(
                "/api/v2/findings/", params={"product_name": product, "active": "true", "limit": 1}
            ).json()
            assert body["count"] == 200


def test_bad_file_is_rejected_and_leaves_the_store_unchanged(api, live_server):
    import_scan(api, _report(1), engagement="CI-main-1")
    before = snapshot(live_server.database_url)
    for bad in (
        b"",
        b"{not json",
        b'{"SchemaVersion": 2, "Results": "nope"}',
        b"\xff\xfe\x00",
        b"[1, 2]",
    ):
        response = import_scan(api, bad, engagement="CI-main-2")
        assert response.status_code == 400, response.text
        assert "file" in response.json()
    assert snapshot(live_server.database_url) == before


@pytest.mark.parametrize("round_", range(3))
def test_kill_9_in_the_middle_of_an_import_leaves_the_store_as_before(database_url, round_):
    """A real server process is killed while it imports; after a restart nothing half-done remains."""
    server = ServerProcess(database_url).start()
    try:
        with server.client() as client:
            assert import_scan(client, _report(1, 50), engagement="CI-main-1").status_code == 201
        before = snapshot(database_url)
        big = _report(2, 6000)

        def post() -> None:
            try:
                with server.client() as client:
                    import_scan(client, big, engagement="CI-main-2")
            except httpx.HTTPError:
                pass

        thread = threading.Thread(target=post)
        thread.start()
        time.sleep(random.Random(round_).uniform(0.05, 0.6))
        server.kill()
        thread.join(timeout=60)
        server = ServerProcess(database_url).start()
        after = snapshot(database_url)
        with server.client() as client:
            tests = client.get("/api/v2/tests/").json()["count"]
        assert after == before or tests == 2, "the store holds a half-done import"
        with server.client() as client:
            retry = import_scan(client, big, engagement="CI-main-2")
            assert retry.status_code == 201
            assert (
                client.get("/api/v2/findings/", params={"active": "true", "limit": 1}).json()[
                    "count"
                ]
                == 6000
            )
        assert _duplicates(database_url) == 0
    finally:
        server.stop()
