"""The ASGI application: built from a Settings object, nothing happens at import."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from sqlalchemy import text
from starlette.formparsers import MultiPartParser

from vulntrail import __version__, web
from vulntrail.api import (
    admin,
    engagements,
    errors,
    finding_exports,
    findings,
    imports,
    notifications,
    products,
    scans,
    timing,
    triage_api,
    vulnerabilities,
)
from vulntrail.api.deps import Services
from vulntrail.auth import users
from vulntrail.config import Settings
from vulntrail.ingest.service import ImportService
from vulntrail.metrics import Metrics
from vulntrail.metrics import router as metrics_router
from vulntrail.notify.runner import NotificationRunner
from vulntrail.store import migrate
from vulntrail.store.db import Sessions, make_engine

log = logging.getLogger(__name__)


def prepare_store(settings: Settings, sessions: Sessions) -> users.FirstStart | None:
    """Migrate, apply the bootstrap token, and make the first admin on an empty store."""
    migrate.upgrade(sessions.engine)
    with sessions.write() as session:
        if settings.bootstrap_token:
            users.apply_bootstrap_token(session, settings.bootstrap_token)
        return users.ensure_admin(session)


def create_app(settings: Settings, *, migrate_on_start: bool = True) -> FastAPI:
    engine = make_engine(settings.database_url)
    sessions = Sessions(engine)
    metrics = Metrics(sessions)
    notifier = NotificationRunner(sessions, settings, metrics.delivery)
    # Uploads are read into memory for parsing anyway: keep them there instead of
    # spooling every report over 1 MB to a temporary file and reading it back.
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, settings.max_upload_bytes)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if migrate_on_start:
            first = prepare_store(settings, sessions)
            if first is not None:
                log.warning(
                    "created user %r; see `vulntrail serve` output for its password", first.username
                )
        notifier.start()
        yield
        notifier.stop()
        engine.dispose()

    app = FastAPI(
        title="vulntrail",
        version=__version__,
        description="Deduplicated container-vulnerability findings with their whole trail; "
        "DefectDojo-compatible API.",
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    app.state.services = Services(settings, sessions, ImportService(sessions, settings))
    errors.install(app)
    app.include_router(imports.router)
    app.include_router(finding_exports.router)  # before /findings/{id}/
    app.include_router(findings.router)
    app.include_router(products.router)
    app.include_router(engagements.router)
    app.include_router(scans.router)
    app.include_router(vulnerabilities.router)
    app.include_router(admin.router)
    app.include_router(triage_api.router)
    app.include_router(notifications.router)
    app.include_router(metrics_router)
    web.install(app)
    app.add_middleware(timing.ServerTiming)  # outermost: Server-Timing on every response

    @app.get("/api/v2/oas3/", include_in_schema=False)
    def openapi_alias() -> dict[str, Any]:
        """DefectDojo serves its schema here; some clients look for it."""
        return app.openapi()

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, Any]:
        with sessions.read() as session:
            session.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    @app.get("/", include_in_schema=False)
    def root() -> dict[str, Any]:
        return {"name": "vulntrail", "version": __version__, "api": "/api/v2/", "docs": "/docs"}

    return app


def create_app_from_env() -> FastAPI:
    """Factory for `uvicorn --factory` worker processes (the parent already migrated)."""
    return create_app(Settings.from_env(), migrate_on_start=False)
