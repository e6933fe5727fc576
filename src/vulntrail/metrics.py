"""Prometheus metrics and the readiness probe.

`GET /metrics` (Prometheus text format) is open by default, as most exporters are: it
shows counts, product names and no finding details. Set `VULNTRAIL_METRICS_TOKEN` to
require `Authorization: Bearer <token>` from the scraper.

Each application has its own registry (several apps may live in one process, as in the
tests). Counters and the histogram belong to this server process; with several processes
behind a load balancer, scrape each one. The gauges read the database at scrape time
(one grouped query each), so they are the same from every process:

| metric | type | labels |
|---|---|---|
| `vulntrail_imports_total` | counter | mode (import, reimport), status (HTTP status) |
| `vulntrail_import_duration_seconds` | histogram | mode; successful imports, upload to answer |
| `vulntrail_findings` | gauge | product, severity, status |
| `vulntrail_notification_deliveries_total` | counter | kind, event; delivered messages |
| `vulntrail_notification_failures_total` | counter | kind, event, final ("true": gave up) |
| `vulntrail_outbox_messages` | gauge | status (pending, delivered, failed) |
| `vulntrail_database_up` | gauge | 1 when the database answered the scrape, else 0 |

A finding's `status` is one of: `false_positive`, `out_of_scope` (triage marks first),
`mitigated` (gone from the default branch), `branch_only` (never on the default branch),
`risk_accepted` (an acceptance in force), `active`.

`GET /readyz` answers 200 when the database answers and its schema is at the newest
migration, else 503 with a JSON body saying which check failed (`/healthz` is liveness).
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Awaitable, Iterable, Iterator
from functools import cached_property
from typing import Any, TypeVar

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from sqlalchemy import String, case, func, literal, select, text
from sqlalchemy.exc import SQLAlchemyError

from vulntrail import clock
from vulntrail.errors import NotAuthenticated, VulntrailError
from vulntrail.parsers.interface import Severity
from vulntrail.store import findings_repo, migrate
from vulntrail.store.db import Sessions
from vulntrail.store.models import Finding, OutboxMessage, Product

log = logging.getLogger(__name__)
R = TypeVar("R", bound=Response)
IMPORT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class Metrics:
    """The metrics of one application."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.registry = CollectorRegistry(auto_describe=False)
        self.imports = Counter(
            "vulntrail_imports",
            "Import and re-import requests, by answer status.",
            ["mode", "status"],
            registry=self.registry,
        )
        self.import_duration = Histogram(
            "vulntrail_import_duration_seconds",
            "Time to answer a successful import, from upload to response.",
            ["mode"],
            buckets=IMPORT_BUCKETS,
            registry=self.registry,
        )
        self.deliveries = Counter(
            "vulntrail_notification_deliveries",
            "Notifications delivered (a 2xx answer).",
            ["kind", "event"],
            registry=self.registry,
        )
        self.delivery_failures = Counter(
            "vulntrail_notification_failures",
            "Failed notification attempts; final=true when the message was given up.",
            ["kind", "event", "final"],
            registry=self.registry,
        )
        self.registry.register(StoreCollector(sessions))

    def delivery(self, kind: str, event: str, outcome: str) -> None:
        """The notification worker's observer (see notify.delivery.Observer)."""
        if outcome == "delivered":
            self.deliveries.labels(kind, event).inc()
        else:
            self.delivery_failures.labels(kind, event, str(outcome == "failed").lower()).inc()

    async def observe_import(self, mode: str, answer: Awaitable[R]) -> R:
        """Count an import request by its answer status; time it when it succeeded."""
        started = time.perf_counter()
        try:
            response = await answer
        except VulntrailError as error:
            self.imports.labels(mode, str(error.status_code)).inc()
            raise
        except Exception:
            self.imports.labels(mode, "500").inc()
            raise
        self.imports.labels(mode, str(response.status_code)).inc()
        if response.status_code < 300:
            self.import_duration.labels(mode).observe(time.perf_counter() - started)
        return response

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    @cached_property
    def schema_heads(self) -> frozenset[str]:
        script = ScriptDirectory.from_config(migrate.alembic_config(self.sessions.engine))
        return frozenset(script.get_heads())


def of(request: Request) -> Metrics:
    found: Metrics = request.app.state.metrics
    return found


class StoreCollector:
    """Gauges read from the database at scrape time."""

    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions

    def describe(self) -> Iterable[Metric]:
        return [_database_up(0), _findings_family(), _outbox_family()]

    def collect(self) -> Iterator[Metric]:
        try:
            with self.sessions.read() as session:
                findings = _findings_family()
                for product, severity, status, count in session.execute(_findings_query()):
                    findings.add_metric([product, Severity(severity).label, status], count)
                outbox = _outbox_family()
                rows = session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                )
                counted = {status: count for status, count in rows}
        except SQLAlchemyError as error:
            # The scrape still answers; /readyz says what is wrong.
            log.warning("metrics: the database did not answer: %s", type(error).__name__)
            yield _database_up(0)
            return
        for status in ("pending", "delivered", "failed"):
            outbox.add_metric([status], counted.get(status, 0))
        yield _database_up(1)
        yield findings
        yield outbox


def _database_up(up: int) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "vulntrail_database_up", "1 when the database answered this scrape, else 0.", value=up
    )


def _findings_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "vulntrail_findings",
        "Findings by product, severity and status (see vulntrail.metrics).",
        labels=["product", "severity", "status"],
    )


def _outbox_family() -> GaugeMetricFamily:
    return GaugeMetricFamily(
        "vulntrail_outbox_messages", "Notification outbox messages by status.", labels=["status"]
    )


def _findings_query() -> Any:
    today = clock.now().date()
    status = case(
        (Finding.false_p.is_(True), literal("false_positive", String())),
        (Finding.out_of_scope.is_(True), literal("out_of_scope", String())),
        (findings_repo.mitigated_expr(), literal("mitigated", String())),
        (Finding.present.is_(False), literal("branch_only", String())),
        (findings_repo.risk_acceptance_in_force(today), literal("risk_accepted", String())),
        else_=literal("active", String()),
    ).label("status")
    return (
        select(Product.name, Finding.severity, status, func.count())
        .join(Product, Product.id == Finding.product_id)
        .group_by(Product.name, Finding.severity, status)
        .order_by(Product.name, Finding.severity)
    )


router = APIRouter(include_in_schema=False)


@router.get("/metrics")
def metrics_endpoint(request: Request) -> Response:
    token: str | None = request.app.state.services.settings.metrics_token
    if token:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip(), token):
            raise NotAuthenticated("/metrics needs 'Authorization: Bearer <metrics token>'")
    return Response(of(request).exposition(), media_type=CONTENT_TYPE_LATEST)


@router.get("/readyz")
def readyz(request: Request) -> JSONResponse:
    metrics = of(request)
    try:
        with metrics.sessions.read() as session:
            session.execute(text("SELECT 1"))
            context = MigrationContext.configure(session.connection())
            current = frozenset(context.get_current_heads())
    except SQLAlchemyError as error:
        return _not_ready({"database": f"unreachable ({type(error).__name__})"})
    if current != metrics.schema_heads:
        have = ", ".join(sorted(current)) or "none"
        want = ", ".join(sorted(metrics.schema_heads))
        return _not_ready({"database": "ok", "schema": f"at {have}, expected {want}"})
    return JSONResponse({"status": "ready", "checks": {"database": "ok", "schema": "ok"}})


def _not_ready(checks: dict[str, str]) -> JSONResponse:
    return JSONResponse({"status": "unavailable", "checks": checks}, status_code=503)
