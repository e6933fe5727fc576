"""Product types, products and test types: lookups and the creates clients make first."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from vulntrail import clock
from vulntrail.api import access
from vulntrail.api.deps import principal, services
from vulntrail.api.listing import page_of
from vulntrail.api.pagination import Id, id_filter, offset_param, paginated
from vulntrail.api.serializers import TEST_TYPES, product_json, product_type_json
from vulntrail.auth.roles import Action
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest, NotFound
from vulntrail.ingest import context, status_store
from vulntrail.ingest.retry import with_retries
from vulntrail.store import audit
from vulntrail.store.models import Product, ProductType

router = APIRouter(prefix="/api/v2", tags=["products"])
Limit = Query(None, ge=0, description="Page size (at most 1000).")


class ProductTypeIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    description: str = ""


class ProductIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: str = Field(min_length=1, max_length=255)
    prod_type: int
    description: str = ""
    default_branch: str = Field("", max_length=255)


class ProductPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    description: str | None = None
    default_branch: str | None = Field(None, min_length=1, max_length=255)


@router.get("/product_types/")
def list_product_types(
    request: Request,
    who: Principal = Depends(principal),
    name: str | None = None,
    limit: int | None = Limit,
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    statement = select(ProductType).order_by(ProductType.id)
    if name:
        statement = statement.where(ProductType.name == name)
    with services(request).sessions.read() as session:
        return page_of(request, session, statement, limit, offset, product_type_json)


@router.get("/product_types/{type_id}/")
def get_product_type(
    type_id: Id, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    with services(request).sessions.read() as session:
        row = session.get(ProductType, type_id)
        if row is None:
            raise NotFound(f"product type {type_id} does not exist")
        return product_type_json(row)


@router.post("/product_types/", status_code=201)
def create_product_type(
    body: ProductTypeIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    access.require_somewhere(who, Action.CREATE_PRODUCT)

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            if session.scalar(select(ProductType.id).where(ProductType.name == body.name)):
                raise BadRequest("product type with this name already exists.", field="name")
            row = ProductType(name=body.name, description=body.description, created=clock.now())
            session.add(row)
            session.flush()
            return product_type_json(row)

    return with_retries(write, what="create product type")


@router.get("/products/")
def list_products(
    request: Request,
    who: Principal = Depends(principal),
    name: str | None = Query(None, description="Name contains (case-insensitive), as DefectDojo."),
    name_exact: str | None = None,
    prod_type: int | None = id_filter(),
    limit: int | None = Limit,
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    statement = select(Product).order_by(Product.id)
    if name:
        statement = statement.where(
            func.lower(Product.name).contains(name.lower(), autoescape=True)
        )
    if name_exact:
        statement = statement.where(Product.name == name_exact)
    if prod_type is not None:
        statement = statement.where(Product.prod_type_id == prod_type)
    with services(request).sessions.read() as session:
        readable = access.readable_product_ids(session, who)
        if readable is not None:
            statement = statement.where(Product.id.in_(readable))
        return page_of(request, session, statement, limit, offset, product_json)


@router.get("/products/{product_id}/")
def get_product(
    product_id: Id, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    with services(request).sessions.read() as session:
        return product_json(
            access.visible_product(session, who, product_id, f"product {product_id}")
        )


@router.post("/products/", status_code=201)
def create_product(
    body: ProductIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    settings = services(request).settings
    access.require(who, Action.CREATE_PRODUCT, body.name)

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            if session.get(ProductType, body.prod_type) is None:
                raise BadRequest(
                    f"product type {body.prod_type} does not exist.", field="prod_type"
                )
            if session.scalar(select(Product.id).where(Product.name == body.name)):
                raise BadRequest("product with this name already exists.", field="name")
            now = clock.now()
            row = Product(
                name=body.name,
                prod_type_id=body.prod_type,
                description=body.description,
                default_branch=body.default_branch or settings.default_branch,
                created=now,
                updated=now,
            )
            session.add(row)
            session.flush()
            audit.record(session, who.username, "create_product", body.name)
            return product_json(row)

    return with_retries(write, what="create product")


@router.patch("/products/{product_id}/")
def patch_product(
    product_id: Id, body: ProductPatch, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """`default_branch` decides product-level status; changing it re-derives every finding's."""
    changes = body.model_dump(exclude_unset=True, exclude_none=True)

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            row = access.visible_product(session, who, product_id, f"product {product_id}")
            access.require(who, Action.MANAGE, row.name)
            audit.record(session, who.username, "update_product", row.name, changes=changes)
            new_branch = changes.get("default_branch")
            if new_branch and new_branch != row.default_branch:
                context.lock_product(session, row.id)
                row.default_branch = new_branch
                status_store.rebuild_product_status(session, row)
            for key, value in changes.items():
                setattr(row, key, value)
            row.updated = clock.now()
            session.flush()
            return product_json(row)

    return with_retries(write, what="update product")


@router.get("/test_types/")
def list_test_types(
    request: Request,
    who: Principal = Depends(principal),
    name: str | None = None,
    limit: int | None = Limit,
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    rows = [t for t in TEST_TYPES if name is None or t["name"] == name]
    return paginated(request, len(rows), limit or 25, offset or 0, list(rows))


@router.get("/test_types/{type_id}/")
def get_test_type(type_id: Id, who: Principal = Depends(principal)) -> dict[str, Any]:
    for row in TEST_TYPES:
        if row["id"] == type_id:
            return dict(row)
    raise NotFound(f"test type {type_id} does not exist")
