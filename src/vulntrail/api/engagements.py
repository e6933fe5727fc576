"""Engagements (pipeline runs): lookups, creation, build info, and what a run changed."""

from __future__ import annotations

from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vulntrail import clock
from vulntrail.api import access
from vulntrail.api.deps import principal, services
from vulntrail.api.finding_schema import finding_json
from vulntrail.api.listing import page_of
from vulntrail.api.pagination import MAX_LIMIT, Id, clamp, id_filter, offset_param, paginated
from vulntrail.api.serializers import engagement_json
from vulntrail.auth.roles import Action
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest, NotFound
from vulntrail.ingest import context
from vulntrail.ingest.retry import with_retries
from vulntrail.parsers.interface import Severity
from vulntrail.store import runs_repo
from vulntrail.store.listing import ListFilters, Row, RunView
from vulntrail.store.models import Engagement, Product

router = APIRouter(prefix="/api/v2", tags=["engagements"])


class EngagementIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    product: int
    target_start: date | None = None
    target_end: date | None = None
    engagement_type: str = Field("CI/CD", max_length=30)
    status: str = Field("In Progress", max_length=30)
    description: str = ""
    branch_tag: str | None = Field(None, max_length=255)
    commit_hash: str | None = Field(None, max_length=255)
    build_id: str | None = Field(None, max_length=255)
    version: str | None = Field(None, max_length=255)
    source_code_management_uri: str | None = Field(None, max_length=600)
    tags: list[str] = []


class EngagementPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    branch_tag: str | None = Field(None, max_length=255)
    commit_hash: str | None = Field(None, max_length=255)
    build_id: str | None = Field(None, max_length=255)
    version: str | None = Field(None, max_length=255)
    status: str | None = Field(None, max_length=30)
    description: str | None = None
    target_end: date | None = None


@router.get("/engagements/")
def list_engagements(
    request: Request,
    who: Principal = Depends(principal),
    product: int | None = id_filter(),
    name: str | None = None,
    product_name: str | None = None,
    branch: str | None = None,
    ordering: str = Query("id", pattern="^-?(id|run_seq|created)$"),
    limit: int | None = Query(None, ge=0),
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    column = getattr(Engagement, ordering.lstrip("-"))
    statement = select(Engagement).order_by(column.desc() if ordering.startswith("-") else column)
    if product is not None:
        statement = statement.where(Engagement.product_id == product)
    if name:
        statement = statement.where(Engagement.name == name)
    if branch:
        statement = statement.where(Engagement.branch == branch)
    if product_name:
        statement = statement.where(
            Engagement.product_id.in_(select(Product.id).where(Product.name == product_name))
        )
    with services(request).sessions.read() as session:
        readable = access.readable_product_ids(session, who)
        if readable is not None:
            statement = statement.where(Engagement.product_id.in_(readable))
        return page_of(request, session, statement, limit, offset, engagement_json)


@router.get("/engagements/{engagement_id}/")
def get_engagement(
    engagement_id: Id, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    with services(request).sessions.read() as session:
        return engagement_json(_engagement(session, engagement_id, who))


@router.post("/engagements/", status_code=201)
def create_engagement(
    body: EngagementIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    spec = context.EngagementSpec(
        name=body.name,
        branch_tag=body.branch_tag,
        build_id=body.build_id,
        commit_hash=body.commit_hash,
        version=body.version,
        source_code_management_uri=body.source_code_management_uri,
        tags=tuple(body.tags),
        target_start=body.target_start,
        target_end=body.target_end,
        description=body.description,
        engagement_type=body.engagement_type,
        status=body.status,
    )

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            found = session.get(Product, body.product)
            if found is None or not who.can(Action.READ, found.name):
                raise BadRequest(f"product {body.product} does not exist.", field="product")
            access.require(who, Action.IMPORT, found.name)
            product = context.lock_product(session, body.product)
            taken = select(Engagement.id).where(
                Engagement.product_id == product.id, Engagement.name == body.name
            )
            if session.scalar(taken) is not None:
                raise BadRequest(
                    f"product {product.name!r} already has an engagement named {body.name!r}.",
                    field="name",
                )
            return engagement_json(context.create_engagement(session, product, spec))

    return with_retries(write, what="create engagement")


@router.patch("/engagements/{engagement_id}/")
def patch_engagement(
    engagement_id: Id, body: EngagementPatch, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """Build info after the fact (dd-import's PATCH); the branch may change only before a run."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            engagement = _engagement(session, engagement_id, who)
            product = context.lock_product(session, engagement.product_id)
            access.require(who, Action.IMPORT, product.name)
            if "branch_tag" in changes:
                context.move_to_branch(session, product, engagement, changes["branch_tag"])
            for key, value in changes.items():
                setattr(engagement, key, value)
            engagement.updated = clock.now()
            session.flush()
            return engagement_json(engagement)

    return with_retries(write, what="update engagement")


@router.get("/engagements/{engagement_id}/findings/")
def engagement_findings(
    engagement_id: Id,
    request: Request,
    who: Principal = Depends(principal),
    status: str = Query(
        "", pattern="^(|new|carried|resolved)$", description="new, carried or resolved"
    ),
    severity: str | None = Query(None, description="Critical, High, Medium, Low or Info"),
    limit: int | None = Query(None, ge=0),
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    """vulntrail: the findings this run contained, as they were in it (new or carried
    over from the previous run of its branch), or those it resolved; paged."""
    size, start = clamp(limit, offset)
    filters = ListFilters(severities=_severities(severity), status=status)
    today = clock.now().date()
    with services(request).sessions.read() as session:
        engagement = _engagement(session, engagement_id, who)
        previous = runs_repo.previous_run(session, engagement)
        view = RunView(engagement, previous.run_seq if previous else None)
        present, new = view.counts(session, ListFilters())
        resolved, _ = view.counts(session, ListFilters(status="resolved"))
        listed, _ = view.counts(session, filters)
        rows = view.rows(session, filters, limit=size, offset=start)
    page = paginated(
        request, sum(listed.values()), size, start, [_in_run(row, today) for row in rows]
    )
    return {
        "engagement": engagement_json(engagement),
        "previous_engagement": previous.id if previous else None,
        "counts": {Severity(s).label: n for s, n in present.items()},
        "new": sum(new.values()),
        "resolved": sum(resolved.values()),
        **page,
    }


@router.get("/engagements/{engagement_id}/diff/")
def engagement_diff(
    engagement_id: Id,
    request: Request,
    who: Principal = Depends(principal),
    limit: int = Query(1000, ge=1, le=MAX_LIMIT),
) -> dict[str, Any]:
    """What this run introduced and resolved compared with the run before it on its branch
    (at most `limit` of each; the counts are complete)."""
    today = clock.now().date()
    with services(request).sessions.read() as session:
        engagement = _engagement(session, engagement_id, who)
        previous = runs_repo.previous_run(session, engagement)
        view = RunView(engagement, previous.run_seq if previous else None)
        present, new = view.counts(session, ListFilters())
        resolved, _ = view.counts(session, ListFilters(status="resolved"))
        introduced = view.rows(session, ListFilters(status="new"), limit=limit, offset=0)
        gone = view.rows(session, ListFilters(status="resolved"), limit=limit, offset=0)
    return {
        "engagement": engagement_json(engagement),
        "previous_engagement": engagement_json(previous) if previous else None,
        "introduced_count": sum(new.values()),
        "resolved_count": sum(resolved.values()),
        "unchanged_count": sum(present.values()) - sum(new.values()),
        "introduced": [_in_run(row, today) for row in introduced],
        "resolved": [_in_run(row, today) for row in gone],
    }


def _severities(text: str | None) -> tuple[int, ...]:
    if not text:
        return ()
    key = text.strip().upper()
    if key not in Severity.__members__ and key != "INFORMATIONAL":
        raise BadRequest("must be one of Info, Low, Medium, High, Critical", field="severity")
    return (int(Severity.from_label(key)),)


def _in_run(row: Row, today: date) -> dict[str, Any]:
    occurrence = row.occurrence
    assert occurrence is not None
    return {
        **finding_json(row.finding, occurrence, today=today, newest=None),
        "severity": Severity(occurrence.severity).label,
        "title": occurrence.title or row.finding.rule_id,
        "component_version": occurrence.installed_version or None,
        "fixed_version": occurrence.fixed_version or None,
        "change": row.change,
    }


def _engagement(session: Any, engagement_id: Id, who: Principal) -> Engagement:
    row = session.get(Engagement, engagement_id)
    if row is None:
        raise NotFound(f"engagement {engagement_id} does not exist")
    access.visible_product(session, who, row.product_id, f"engagement {engagement_id}")
    assert isinstance(row, Engagement)
    return row
