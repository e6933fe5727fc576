"""Tests (DefectDojo's name for one imported report): lookups and the create before a reimport."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vulntrail import clock
from vulntrail.api import access
from vulntrail.api.deps import principal, services
from vulntrail.api.listing import page_of
from vulntrail.api.pagination import Id, id_filter, offset_param
from vulntrail.api.serializers import TEST_TYPES, test_json
from vulntrail.auth.roles import Action
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest, NotFound
from vulntrail.ingest import context
from vulntrail.ingest.retry import with_retries
from vulntrail.store.models import Engagement, Product, Scan

router = APIRouter(prefix="/api/v2", tags=["tests"])


class TestIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    engagement: int
    test_type: int | str = Field(description="Test type id (1 = Trivy Scan) or name.")
    title: str = Field("", max_length=255)
    version: str = Field("", max_length=255)
    build_id: str = Field("", max_length=255)
    commit_hash: str = Field("", max_length=255)
    branch_tag: str = Field("", max_length=255)
    tags: list[str] = []


def _scan_type(value: int | str) -> str:
    for row in TEST_TYPES:
        if value in (row["id"], row["name"]) or str(value) == str(row["id"]):
            return str(row["name"])
    names = ", ".join(f"{row['id']} ({row['name']})" for row in TEST_TYPES)
    raise BadRequest(f"unknown test type {value!r}; known: {names}", field="test_type")


@router.get("/tests/")
def list_tests(
    request: Request,
    who: Principal = Depends(principal),
    engagement: int | None = id_filter(),
    title: str | None = None,
    test_type: int | None = None,
    scan_type: str | None = None,
    limit: int | None = Query(None, ge=0),
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    statement = select(Scan).order_by(Scan.id)
    if engagement is not None:
        statement = statement.where(Scan.engagement_id == engagement)
    if title:
        statement = statement.where(Scan.title == title)
    if test_type is not None:
        statement = statement.where(Scan.scan_type == _scan_type(test_type))
    if scan_type:
        statement = statement.where(Scan.scan_type == scan_type)
    with services(request).sessions.read() as session:
        readable = access.readable_product_ids(session, who)
        if readable is not None:
            statement = statement.where(
                Scan.engagement_id.in_(
                    select(Engagement.id).where(Engagement.product_id.in_(readable))
                )
            )
        return page_of(request, session, statement, limit, offset, test_json)


@router.get("/tests/{test_id}/")
def get_test(test_id: Id, request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    with services(request).sessions.read() as session:
        row = session.get(Scan, test_id)
        engagement = session.get(Engagement, row.engagement_id) if row is not None else None
        if row is None or engagement is None:
            raise NotFound(f"test {test_id} does not exist")
        access.visible_product(session, who, engagement.product_id, f"test {test_id}")
        return test_json(row)


@router.post("/tests/", status_code=201)
def create_test(
    body: TestIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """An empty test that a later reimport-scan with `test=<id>` fills."""
    scan_type = _scan_type(body.test_type)

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            engagement = session.get(Engagement, body.engagement)
            product = session.get(Product, engagement.product_id) if engagement else None
            if engagement is None or product is None or not who.can(Action.READ, product.name):
                raise BadRequest(
                    f"engagement {body.engagement} does not exist.", field="engagement"
                )
            access.require(who, Action.IMPORT, product.name)
            context.lock_product(session, engagement.product_id)
            now = clock.now()
            row = Scan(
                engagement_id=engagement.id,
                scan_type=scan_type,
                title=body.title or scan_type,
                report_id=None,
                report_sha256="",
                members=b"",
                statistics={},
                options={},
                tags=body.tags,
                version=body.version,
                build_id=body.build_id,
                commit_hash=body.commit_hash,
                branch_tag=body.branch_tag,
                previous_report_ids=[],
                created=now,
                updated=now,
            )
            session.add(row)
            session.flush()
            return test_json(row)

    return with_retries(write, what="create test")
