"""Exports of a finding query through the API: CSV, JSON or SARIF 2.1.0, streamed.

Rows leave the database EXPORT_CHUNK at a time, so 100,000 findings never sit in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from vulntrail import __version__, clock, exports
from vulntrail.api import access
from vulntrail.api.deps import principal, services
from vulntrail.api.findings import severity_value
from vulntrail.api.pagination import id_filter
from vulntrail.auth.tokens import Principal
from vulntrail.store import findings_repo
from vulntrail.store.listing import EXPORT_CHUNK, Row
from vulntrail.store.models import Finding, Occurrence, Product
from vulntrail.web.downloads import MEDIA, record

router = APIRouter(prefix="/api/v2", tags=["findings"])


@router.get("/findings/export.{fmt}", response_class=StreamingResponse)
def export_findings(
    request: Request,
    fmt: str = Path(pattern="^(csv|json|sarif)$", description="csv, json or sarif"),
    who: Principal = Depends(principal),
    product_name: str | None = None,
    product: int | None = id_filter(),
    active: bool | None = None,
    is_mitigated: bool | None = None,
    severity: str | None = None,
    vulnerability_id: str | None = None,
    component_name: str | None = None,
    title: str | None = Query(None, description="Title contains (case-insensitive)."),
) -> StreamingResponse:
    """The findings a /findings/ query selects, in one file; status is the default branch's."""
    svc = services(request)
    today = clock.now().date()
    with svc.sessions.read() as session:
        readable = access.readable_product_ids(session, who)
        names = dict(session.execute(select(Product.id, Product.name)).tuples().all())
    filters = findings_repo.FindingFilters(
        product_id=product,
        product_name=product_name,
        active=active,
        is_mitigated=is_mitigated,
        severity=severity_value(severity),
        vulnerability_id=vulnerability_id,
        component_name=component_name,
        title=title,
        product_ids=readable,
    )
    base = str(request.base_url).rstrip("/")

    def records() -> Iterator[dict[str, Any]]:
        ids = findings_repo.filtered(filters, today)
        statement = (
            select(Finding, Occurrence)
            .outerjoin(Occurrence, Occurrence.id == Finding.occurrence_id)
            .where(Finding.id.in_(ids))
            .order_by(Finding.severity.desc(), Finding.id)
            .execution_options(yield_per=EXPORT_CHUNK)
        )
        with svc.sessions.read() as session:
            for finding, occurrence in session.execute(statement):
                status = (
                    "open"
                    if finding.present
                    else "resolved"
                    if finding.on_default_branch
                    else "other branch"
                )
                row = Row(finding, occurrence, status)
                yield record(
                    row, product=names.get(finding.product_id, ""), engagement=None, base_url=base
                )

    if fmt == "csv":
        body: Iterator[str] = exports.csv_chunks(records())
    elif fmt == "json":
        body = exports.json_chunks(records(), {"query": dict(request.query_params)})
    else:
        body = exports.sarif_chunks(records(), tool_version=__version__, information_uri=base)
    return StreamingResponse(
        body,
        media_type=MEDIA[fmt],
        headers={"Content-Disposition": f'attachment; filename="findings.{fmt}"'},
    )


def _status(finding: Finding) -> str:
    if finding.present:
        return "open"
    return "resolved" if finding.on_default_branch else "not on the default branch"
