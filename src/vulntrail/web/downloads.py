"""Exports of the current finding view (CSV, JSON, SARIF), streamed in chunks.

The rows come from a database cursor EXPORT_CHUNK at a time and leave as text
batches, so an export of 100,000 findings never sits in memory.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse

from vulntrail import __version__, clock, exports
from vulntrail.api.deps import services
from vulntrail.api.finding_schema import primary_cvss
from vulntrail.parsers.interface import Severity
from vulntrail.store import runs_repo
from vulntrail.store.db import Sessions
from vulntrail.store.listing import (
    PRODUCT_STATUSES,
    RUN_STATUSES,
    ListFilters,
    ProductView,
    Row,
    RunView,
)
from vulntrail.store.models import Engagement
from vulntrail.web import render
from vulntrail.web.pages import list_filters, view_params
from vulntrail.web.sessions import WebUser, current_user

router = APIRouter(include_in_schema=False)
MEDIA = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "sarif": "application/sarif+json",
}


def record(row: Row, *, product: str, engagement: str | None, base_url: str) -> dict[str, Any]:
    """One finding of a view as an export record (see vulntrail.exports.COLUMNS)."""
    finding, occurrence = row.finding, row.occurrence
    attrs: dict[str, Any] = occurrence.attrs if occurrence is not None else {}
    source = occurrence if occurrence is not None else finding
    vector, score = primary_cvss(attrs)
    return {
        "id": finding.id,
        "product": product,
        "engagement": engagement,
        "vulnerability_id": finding.rule_id,
        "title": source.title or finding.rule_id,
        "severity": Severity(row.severity).label,
        "status": row.change,
        "package": finding.package_name,
        "installed_version": source.installed_version,
        "fixed_version": source.fixed_version,
        "kind": finding.kind,
        "location": attrs.get("package_path") or finding.location or attrs.get("target"),
        "cvss_score": score,
        "cvss_vector": vector,
        "cwes": list(attrs.get("cwes") or []),
        "first_seen": render.iso_time(finding.first_seen_at) or None,
        "url": f"{base_url}/findings/{finding.id}",
        "description": attrs.get("description") or "",
        "references": list(attrs.get("references") or []),
    }


def _stream(
    sessions: Sessions,
    make_view: Any,
    filters: ListFilters,
    product: str,
    engagement: str | None,
    base_url: str,
) -> Iterator[dict[str, Any]]:
    with sessions.read() as session:
        for chunk in make_view(session).stream(session, filters):
            for row in chunk:
                yield record(row, product=product, engagement=engagement, base_url=base_url)


def _response(
    fmt: str, records: Iterator[dict[str, Any]], name: str, view: dict[str, Any], base_url: str
) -> StreamingResponse:
    if fmt == "csv":
        body: Iterator[str] = exports.csv_chunks(records)
    elif fmt == "json":
        body = exports.json_chunks(records, view)
    elif fmt == "sarif":
        body = exports.sarif_chunks(records, tool_version=__version__, information_uri=base_url)
    else:
        raise render.PageNotFound(f"export format {fmt!r} (use csv, json or sarif)")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:120] or "findings"
    return StreamingResponse(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="{safe}.{fmt}"'},
    )


@router.get("/engagements/{engagement_id}/export.{fmt}")
def export_engagement(
    engagement_id: int, fmt: str, request: Request, who: WebUser = Depends(current_user)
) -> StreamingResponse:
    filters = list_filters(request, RUN_STATUSES)
    sessions = services(request).sessions
    base_url = str(request.base_url).rstrip("/")
    with sessions.read() as session:
        what = f"engagement {engagement_id}"
        engagement = session.get(Engagement, engagement_id)
        if engagement is None:
            raise render.PageNotFound(what)
        product = render.product_for(session, who, engagement.product_id, what)
        previous = runs_repo.previous_run(session, engagement) if engagement.has_runs else None
        previous_seq = previous.run_seq if previous else None
        name, engagement_name = product.name, engagement.name
    view = {
        "product": name,
        "engagement": engagement_name,
        "engagement_id": engagement_id,
        "filters": view_params(filters),
        "exported": clock.now().isoformat(),
    }
    records = _stream(
        sessions,
        lambda _: RunView(engagement, previous_seq),
        filters,
        name,
        engagement_name,
        base_url,
    )
    return _response(fmt, records, f"{name}-{engagement_name}", view, base_url)


@router.get("/products/{product_id}/export.{fmt}")
def export_product(
    product_id: int, fmt: str, request: Request, who: WebUser = Depends(current_user)
) -> StreamingResponse:
    filters = list_filters(request, PRODUCT_STATUSES)
    sessions = services(request).sessions
    base_url = str(request.base_url).rstrip("/")
    with sessions.read() as session:
        name = render.product_for(session, who, product_id, f"product {product_id}").name
    today = clock.now().date()
    view = {
        "product": name,
        "filters": view_params(filters),
        "exported": clock.now().isoformat(),
    }
    records = _stream(
        sessions, lambda _: ProductView(product_id, today), filters, name, None, base_url
    )
    return _response(fmt, records, f"{name}-{filters.status}", view, base_url)
