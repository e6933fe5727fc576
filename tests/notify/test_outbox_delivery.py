"""Notifications leave through the outbox: after commit, with retries, across restarts,
never holding up an import. A real HTTP receiver on loopback plays the webhook."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time

from notify_support import FAST_ENV, SECRET, add_target, outbox, receiver, server, wait_until

from conftest import ServerProcess, free_port
from reports import Report, Vuln, import_scan

CRIT = Vuln("CVE-2024-0001", "openssl", "3.0.1", severity="CRITICAL", fixed="3.0.2")
HIGH = Vuln("CVE-2024-0002", "zlib", "1.2.13", severity="HIGH")
MEDIUM = Vuln("CVE-2024-0003", "curl", "8.0.0", severity="MEDIUM")


def _signature(body: bytes) -> str:
    return "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


def test_new_critical_and_high_reach_a_webhook_once_signed_after_two_failed_attempts(database_url):
    with receiver(fail_first=2) as hook, server(database_url) as live, live.client() as api:
        add_target(api, hook.url())
        report = Report("app:1", [CRIT, HIGH, MEDIUM]).to_json()
        assert import_scan(api, report, engagement="CI-main-1").status_code == 201

        [ok] = hook.wait_for(1)
        assert [r.status for r in hook.requests] == [500, 500, 200]
        assert {r.body for r in hook.requests} == {ok.body}  # the same message each time
        assert ok.headers["x-vulntrail-signature"] == _signature(ok.body)
        assert ok.headers["x-vulntrail-event"] == "finding.new"
        assert ok.headers["content-type"] == "application/json"
        body = ok.json()
        assert body["event"] == "finding.new"
        assert body["id"] == int(ok.headers["x-vulntrail-delivery"])
        data = body["data"]
        assert data["product"]["name"] == "orchestrator-server"
        assert data["engagement"]["name"] == "CI-main-1" and data["engagement"]["branch"] == "main"
        assert data["counts"] == {"Critical": 1, "High": 1} and data["total"] == 2
        assert not data["truncated"]
        assert [
            (f["vulnerability_id"], f["severity"], f["component_name"], f["fixed_version"])
            for f in data["findings"]
        ] == [
            ("CVE-2024-0001", "Critical", "openssl", "3.0.2"),
            ("CVE-2024-0002", "High", "zlib", ""),
        ]

        [message] = outbox(api)
        assert message["id"] == body["id"]
        assert (message["status"], message["attempts"], message["last_error"]) == (
            "delivered",
            3,
            None,
        )


def test_an_import_answers_at_once_while_the_receiver_hangs(tmp_path):
    # SQLite: the worker must not hold the store's single write lock while it posts.
    hang = threading.Event()
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with receiver(hang=hang) as hook, server(url) as live, live.client() as api:
        add_target(api, hook.url())
        assert (
            import_scan(api, Report("app:1", [CRIT]).to_json(), engagement="CI-main-1").status_code
            == 201
        )
        wait_until(lambda: hook.arrived >= 1)  # the worker is now stuck in its POST

        started = time.monotonic()
        second = import_scan(api, Report("app:2", [CRIT, HIGH]).to_json(), engagement="CI-main-2")
        elapsed = time.monotonic() - started
        assert second.status_code == 201
        assert elapsed < 2.0, f"the import took {elapsed:.1f} s while a webhook hung"

        hang.set()
        delivered = hook.wait_for(2)
        assert [r.json()["data"]["engagement"]["name"] for r in delivered] == [
            "CI-main-1",
            "CI-main-2",
        ]
        assert [m["status"] for m in outbox(api)] == ["delivered", "delivered"]


def test_a_message_survives_a_restart_and_the_next_server_delivers_it(database_url, monkeypatch):
    for key, value in FAST_ENV.items():
        monkeypatch.setenv(key, value)
    port = free_port()  # nothing listens there yet: every attempt is refused
    first = ServerProcess(database_url).start()
    try:
        with first.client() as api:
            add_target(api, f"http://127.0.0.1:{port}/hook")
            assert import_scan(api, Report("app:1", [CRIT]).to_json()).status_code == 201
            wait_until(lambda: outbox(api)[0]["attempts"] >= 1)
            [message] = outbox(api)
            assert message["status"] == "pending" and "ConnectError" in message["last_error"]
    finally:
        first.stop()

    # The next server is another process: only the database carried the message over.
    with receiver(port=port) as hook, server(database_url) as live, live.client() as api:
        [ok] = hook.wait_for(1)
        assert ok.json()["id"] == message["id"]
        assert ok.headers["x-vulntrail-signature"] == _signature(ok.body)
        [after] = outbox(api)
        assert after["status"] == "delivered" and after["attempts"] > message["attempts"]
    assert len(hook.requests) == 1


def test_only_findings_an_import_brings_to_the_default_branch_are_announced(database_url):
    other = Vuln("CVE-2024-0009", "glibc", "2.36", severity="CRITICAL")
    late = Vuln("CVE-2024-0010", "bash", "5.2", severity="HIGH")
    back = Vuln("CVE-2024-0011", "tar", "1.34", severity="HIGH")
    with receiver() as hook, server(database_url) as live, live.client() as api:
        add_target(api, hook.url())

        def run(name: str, vulns: list[Vuln], **fields: str) -> None:
            response = import_scan(
                api, Report(f"app:{name}", vulns).to_json(), engagement=name, **fields
            )
            assert response.status_code == 201, response.text

        run("CI-main-10", [CRIT, HIGH, MEDIUM])  # announced: CRIT, HIGH
        run("CI-main-11", [CRIT, HIGH, MEDIUM])  # nothing new
        run("CI-main-11", [CRIT, HIGH, MEDIUM])  # a CI retry changes nothing
        run(
            "CI-feature-x-12", [CRIT, HIGH, other], branch_tag="feature-x"
        )  # not the default branch
        run("CI-main-13", [CRIT, MEDIUM])  # HIGH resolved
        run("CI-main-9", [CRIT, HIGH, late])  # an older pipeline arriving late
        run("CI-main-14", [CRIT, HIGH, MEDIUM, back])  # HIGH is back, `back` is new

        messages = sorted(outbox(api), key=lambda m: m["id"])
        listed = [
            (
                m["payload"]["engagement"]["name"],
                [f["vulnerability_id"] for f in m["payload"]["findings"]],
            )
            for m in messages
        ]
        assert listed == [
            ("CI-main-10", ["CVE-2024-0001", "CVE-2024-0002"]),
            ("CI-main-14", ["CVE-2024-0002", "CVE-2024-0011"]),
        ]
        assert len(hook.wait_for(2)) == 2


def test_two_servers_on_one_database_deliver_each_message_once(database_url):
    with (
        receiver() as hook,
        server(database_url) as one,
        server(database_url) as two,
        one.client() as api,
        two.client() as other,
    ):
        add_target(api, hook.url())
        for run in range(1, 11):  # ten imports, half through each server, each a new finding
            client = api if run % 2 else other
            vuln = Vuln(f"CVE-2024-10{run:02d}", f"pkg{run}", severity="CRITICAL")
            response = import_scan(
                client, Report(f"app:{run}", [vuln]).to_json(), engagement=f"CI-main-{run}"
            )
            assert response.status_code == 201
        delivered = hook.wait_for(10)
        assert len(hook.requests) == 10
        ids = sorted(int(r.headers["x-vulntrail-delivery"]) for r in delivered)
        assert ids == sorted(m["id"] for m in outbox(api))
        assert {m["status"] for m in outbox(api)} == {"delivered"}
