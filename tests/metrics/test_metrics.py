"""/metrics as Prometheus reads it, and the /readyz probe."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest
from metrics_support import scrape, unmigrated_server, value
from sqlalchemy import create_engine

from conftest import PG_ADMIN_URL, free_port
from notify.notify_support import add_target, outbox, receiver, server, wait_until
from reports import Report, Vuln, findings, import_scan
from vulntrail.metrics import IMPORT_BUCKETS
from vulntrail.store import migrate

CRIT = Vuln("CVE-2024-0001", "openssl", "3.0.1", severity="CRITICAL")
HIGH = Vuln("CVE-2024-0002", "zlib", "1.2.13", severity="HIGH")
GONE = Vuln("CVE-2024-0003", "expat", "2.5.0", severity="HIGH")
MEDIUM = Vuln("CVE-2024-0004", "curl", "8.0.0", severity="MEDIUM")
LOW = Vuln("CVE-2024-0005", "less", "590", severity="LOW")
BRANCH = Vuln("CVE-2024-0006", "vim", "9.0", severity="HIGH")


def test_metrics_count_imports_time_them_and_count_findings_by_status(live_server, api):
    def run(vulns, **fields):
        response = import_scan(api, Report("app:1", vulns).to_json(), **fields)
        assert response.status_code == 201, response.text

    run([CRIT, HIGH, GONE, MEDIUM], engagement="CI-main-1")
    run([CRIT, HIGH, MEDIUM], engagement="CI-main-2")  # GONE is mitigated
    run([LOW], product="billing-api", engagement="CI-main-1")
    run([CRIT, BRANCH], engagement="CI-feature-3", branch_tag="feature")  # BRANCH: never on main
    assert import_scan(api, b'{"not": "a report"}', engagement="CI-main-4").status_code == 400
    ids = {
        f["vulnerability_ids"][0]["vulnerability_id"]: f["id"]
        for f in findings(api, product_name="orchestrator-server")
    }
    until = (datetime.now(UTC).date() + timedelta(days=10)).isoformat()
    api.patch(
        f"/api/v2/findings/{ids['CVE-2024-0004']}/", json={"false_p": True}
    ).raise_for_status()
    api.patch(
        f"/api/v2/findings/{ids['CVE-2024-0002']}/",
        json={"risk_accepted": True, "risk_accepted_until": until},
    ).raise_for_status()

    samples = scrape(api)
    assert value(samples, "vulntrail_imports_total", mode="import", status="201") == 4
    assert value(samples, "vulntrail_imports_total", mode="import", status="400") == 1
    assert value(samples, "vulntrail_import_duration_seconds_count", mode="import") == 4
    buckets = [
        (labels["le"], v)
        for n, labels, v in samples
        if n == "vulntrail_import_duration_seconds_bucket"
    ]
    assert [float(le) for le, _ in buckets] == [*IMPORT_BUCKETS, float("inf")]
    counts = [v for _, v in buckets]
    assert counts == sorted(counts) and counts[-1] == 4  # cumulative, every import in +Inf
    assert 0 < value(samples, "vulntrail_import_duration_seconds_sum", mode="import") < 60

    by_status = {
        (labels["product"], labels["severity"], labels["status"]): v
        for n, labels, v in samples
        if n == "vulntrail_findings"
    }
    assert by_status == {
        ("orchestrator-server", "Critical", "active"): 1,
        ("orchestrator-server", "High", "risk_accepted"): 1,
        ("orchestrator-server", "High", "mitigated"): 1,
        ("orchestrator-server", "High", "branch_only"): 1,
        ("orchestrator-server", "Medium", "false_positive"): 1,
        ("billing-api", "Low", "active"): 1,
    }


def test_metrics_count_notification_deliveries_and_failures(tmp_path):
    nobody = f"http://127.0.0.1:{free_port()}/hook"  # refused: fails for good after 2 attempts
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with (
        receiver(fail_first=1) as hook,
        server(url, notify_max_attempts=2) as live,
        live.client() as api,
    ):
        add_target(api, hook.url())
        add_target(api, nobody, kind="slack")
        assert import_scan(api, Report("app:1", [CRIT]).to_json()).status_code == 201
        wait_until(lambda: sorted(m["status"] for m in outbox(api)) == ["delivered", "failed"])

        samples = scrape(api)
        assert (
            value(
                samples,
                "vulntrail_notification_deliveries_total",
                kind="webhook",
                event="finding.new",
            )
            == 1
        )
        assert value(samples, "vulntrail_notification_deliveries_total", kind="slack") is None
        failures = {
            (labels["kind"], labels["final"]): v
            for n, labels, v in samples
            if n == "vulntrail_notification_failures_total"
        }
        assert failures == {("webhook", "false"): 1, ("slack", "false"): 1, ("slack", "true"): 1}
        outbox_gauge = {
            labels["status"]: v for n, labels, v in samples if n == "vulntrail_outbox_messages"
        }
        assert outbox_gauge == {"pending": 0, "delivered": 1, "failed": 1}
        assert len(hook.requests) == 2


def test_metrics_can_require_a_scrape_token(tmp_path):
    url = f"sqlite:///{tmp_path / 'v.db'}"
    with server(url, metrics_token="scrape-token-1") as live, live.client(token=None) as anonymous:
        assert anonymous.get("/metrics").status_code == 401
        assert (
            anonymous.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        )
        assert scrape(anonymous, Authorization="Bearer scrape-token-1")
        assert anonymous.get("/readyz").status_code == 200  # probes need no token


def test_readyz_is_503_until_the_schema_is_at_the_newest_migration(tmp_path):
    database_url = f"sqlite:///{tmp_path / 'v.db'}"
    with unmigrated_server(database_url) as url:
        response = httpx.get(url + "/readyz")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["checks"]["schema"].startswith("at none, expected ")
        engine = create_engine(database_url)
        migrate.upgrade(engine)
        engine.dispose()
        response = httpx.get(url + "/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready", "checks": {"database": "ok", "schema": "ok"}}


def test_readyz_is_503_when_the_postgresql_database_is_dropped(pg_available):
    if not pg_available:
        pytest.skip(f"PostgreSQL at {PG_ADMIN_URL} is not reachable")
    name = f"vt_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    database_url = (
        PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        + "/"
        + name
    )
    try:
        with server(database_url) as live, live.client() as api:
            assert api.get("/readyz").status_code == 200
            assert value(scrape(api), "vulntrail_database_up") == 1
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            response = api.get("/readyz")
            assert response.status_code == 503
            assert response.json()["checks"]["database"].startswith("unreachable")
            samples = scrape(api)  # still answers, without the gauges read from the database
            assert value(samples, "vulntrail_database_up") == 0
            assert value(samples, "vulntrail_outbox_messages", status="pending") is None
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
