"""The seed's path: Products → a product → one of its engagements, grouped by severity."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import select

from vulntrail import clock
from vulntrail.api.deps import services
from vulntrail.parsers.interface import Severity
from vulntrail.store import runs_repo
from vulntrail.store.listing import (
    PRODUCT_STATUSES,
    RUN_STATUSES,
    SEVERITY_RANGE,
    ListFilters,
    ProductView,
    RunView,
)
from vulntrail.store.models import Engagement, Scan
from vulntrail.web import render, runs
from vulntrail.web.charts import TrendRun, sparkline, trend_chart
from vulntrail.web.sessions import WebUser, current_user

router = APIRouter(include_in_schema=False)
FINDINGS_PER_PAGE = 50
ENGAGEMENTS_PER_PAGE = 10
RESOLVED_PREVIEW = 20


def list_filters(request: Request, statuses: tuple[str, ...]) -> ListFilters:
    """The list filters of a view from its query string; unknown values are ignored."""
    params = request.query_params
    severities = []
    for raw in params.getlist("severity"):
        key = raw.strip().upper()
        if key in Severity.__members__:
            severities.append(int(Severity[key]))
    status = params.get("status", statuses[0])
    return ListFilters(
        severities=tuple(sorted(set(severities), reverse=True)),
        package=params.get("package", "").strip()[:200],
        text=params.get("q", "").strip()[:200],
        status=status if status in statuses else statuses[0],
    )


def view_params(filters: ListFilters) -> dict[str, Any]:
    return {
        "severity": [Severity(s).label for s in filters.severities],
        "package": filters.package,
        "q": filters.text,
        "status": filters.status,
    }


@router.get("/products", response_class=HTMLResponse)
def products(request: Request, who: WebUser = Depends(current_user)) -> HTMLResponse:
    with services(request).sessions.read() as session:
        rows = runs.product_rows(
            session, clock.now().date(), product_ids=render.readable(session, who)
        )
        items = [
            {
                "row": row,
                "spark": sparkline(
                    row.trend,
                    label=f"{row.product.name}: findings present in its last "
                    f"{len(row.trend)} runs on {row.product.default_branch}",
                    width=120,
                    height=28,
                ),
            }
            for row in rows
        ]
        return render.page(
            request,
            session,
            who,
            "products.html",
            {"items": items, "base_url": str(request.base_url).rstrip("/")},
        )


@router.get("/products/{product_id}", response_class=HTMLResponse)
def product_page(
    product_id: int, request: Request, who: WebUser = Depends(current_user)
) -> HTMLResponse:
    filters = list_filters(request, PRODUCT_STATUSES)
    params = view_params(filters)
    today = clock.now().date()
    with services(request).sessions.read() as session:
        product = render.product_for(session, who, product_id, f"product {product_id}")
        view = ProductView(product.id, today)
        open_now = view.counts(session, ListFilters())
        counts = view.counts(session, filters)
        pager = render.Pager(
            sum(counts.values()),
            render.page_number(request.query_params.get("page")),
            FINDINGS_PER_PAGE,
            {**params, "runs": request.query_params.get("runs")},
        )
        rows = view.rows(session, filters, limit=pager.per_page, offset=pager.offset)
        runs_page = render.page_number(request.query_params.get("runs"))
        run_total, engagements = runs.engagement_rows(
            session,
            product.id,
            limit=ENGAGEMENTS_PER_PAGE,
            offset=(runs_page - 1) * ENGAGEMENTS_PER_PAGE,
        )
        runs_pager = render.Pager(
            run_total,
            runs_page,
            ENGAGEMENTS_PER_PAGE,
            {**params, "page": request.query_params.get("page")},
            key="runs",
        )
        trend = runs.product_trend(session, product)
        chart = trend_chart(
            [TrendRun(p.name, p.counts) for p in trend],
            title=f"Findings present per run of {product.default_branch}, by severity",
            x_title=f"Pipeline runs of {product.default_branch} (oldest → newest)",
            y_title="Findings present",
        )
        latest = trend[-1] if trend else None
        return render.page(
            request,
            session,
            who,
            "product.html",
            {
                "product": product,
                "open_now": open_now,
                "counts": counts,
                "rows": rows,
                "pager": pager,
                "filters": filters,
                "params": params,
                "statuses": PRODUCT_STATUSES,
                "engagements": engagements,
                "runs_pager": runs_pager,
                "chart": chart,
                "latest": latest,
                "export_query": render.query_string(params),
            },
            current_product=product.id,
        )


@router.get("/engagements/{engagement_id}", response_class=HTMLResponse)
def engagement_page(
    engagement_id: int, request: Request, who: WebUser = Depends(current_user)
) -> HTMLResponse:
    filters = list_filters(request, RUN_STATUSES)
    params = view_params(filters)
    with services(request).sessions.read() as session:
        what = f"engagement {engagement_id}"
        engagement = session.get(Engagement, engagement_id)
        if engagement is None:
            raise render.PageNotFound(what)
        product = render.product_for(session, who, engagement.product_id, what)
        previous = runs_repo.previous_run(session, engagement) if engagement.has_runs else None
        view = RunView(engagement, previous.run_seq if previous else None)
        present, new = view.counts(session, ListFilters())
        resolved, _ = view.counts(session, ListFilters(status="resolved"))
        shown = view.counts(session, filters)[0] if filters != ListFilters() else present
        pager = render.Pager(
            sum(shown.values()),
            render.page_number(request.query_params.get("page")),
            FINDINGS_PER_PAGE,
            params,
        )
        rows = view.rows(session, filters, limit=pager.per_page, offset=pager.offset)
        groups = [
            (severity, [r for r in rows if r.severity == severity], shown[severity])
            for severity in SEVERITY_RANGE
        ]
        preview = []
        if filters.status != "resolved" and any(resolved.values()):
            preview = view.rows(
                session, ListFilters(status="resolved"), limit=RESOLVED_PREVIEW, offset=0
            )
        scans = session.scalars(
            select(Scan).where(Scan.engagement_id == engagement.id).order_by(Scan.id)
        ).all()
        return render.page(
            request,
            session,
            who,
            "engagement.html",
            {
                "engagement": engagement,
                "product": product,
                "previous": previous,
                "scans": scans,
                "present": present,
                "new": new,
                "resolved": resolved,
                "groups": [g for g in groups if g[1]],
                "preview": preview,
                "filtered": filters != ListFilters(),
                "pager": pager,
                "filters": filters,
                "params": params,
                "statuses": RUN_STATUSES,
                "export_query": render.query_string(params),
            },
            current_product=product.id,
        )
