"""Notification targets and the outbox (vulntrail's own endpoints).

Global targets (no product) are managed by administrators; a product's targets by those
who may change its settings (maintainers, owners). A target's secret is write-only, and
its URL is shown without query string (Slack and Teams URLs, credentials themselves, only
by their host). The outbox is for administrators.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from vulntrail import clock
from vulntrail.api import access
from vulntrail.api.deps import principal, services
from vulntrail.api.listing import page_of
from vulntrail.api.pagination import Id, id_filter, offset_param
from vulntrail.api.serializers import iso
from vulntrail.auth.roles import Action
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest, NotFound
from vulntrail.ingest.retry import with_retries
from vulntrail.notify import events, formats
from vulntrail.store import audit
from vulntrail.store.models import NotificationTarget, OutboxMessage, Product

router = APIRouter(prefix="/api/v2", tags=["notifications"])
Limit = Query(None, ge=0, description="Page size (at most 1000).")
MIN_SECRET = 16


class TargetIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    product: int | None = Field(None, description="The product; none for every product.")
    kind: Literal["webhook", "slack", "teams"] = "webhook"
    url: str = Field(min_length=1, max_length=2000)
    secret: str = Field("", max_length=255, description="Signs webhook bodies; write-only.")
    events: list[str] = Field(default_factory=list, description="Empty: every event.")
    active: bool = True


def target_json(row: NotificationTarget) -> dict[str, Any]:
    return {
        "id": row.id,
        "product": row.product_id,
        "kind": row.kind,
        "url": formats.shown_url(row.kind, row.url),
        "has_secret": bool(row.secret),
        "events": row.events,
        "active": row.active,
        "created": iso(row.created),
    }


def outbox_json(row: OutboxMessage) -> dict[str, Any]:
    return {
        "id": row.id,
        "target": row.target_id,
        "event": row.event,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": iso(row.next_attempt_at),
        "last_error": row.last_error or None,
        "dedup_key": row.dedup_key or None,
        "created": iso(row.created),
        "delivered_at": iso(row.delivered_at),
        "payload": row.payload,
    }


@router.get("/notification_targets/")
def list_targets(
    request: Request,
    who: Principal = Depends(principal),
    product: int | None = id_filter(),
    limit: int | None = Limit,
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    """Administrators see every target; others the targets of products they manage."""
    statement = select(NotificationTarget).order_by(NotificationTarget.id)
    if product is not None:
        statement = statement.where(NotificationTarget.product_id == product)
    with services(request).sessions.read() as session:
        if not who.is_admin:
            statement = statement.where(
                NotificationTarget.product_id.in_(_managed_product_ids(session, who))
            )
        return page_of(request, session, statement, limit, offset, target_json)


@router.post("/notification_targets/", status_code=201)
def create_target(
    body: TargetIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    _validate(body)

    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            name = _authorize(session, who, body.product)
            row = NotificationTarget(
                product_id=body.product,
                kind=body.kind,
                url=body.url,
                secret=body.secret,
                events=sorted(set(body.events)),
                active=body.active,
                created=clock.now(),
            )
            session.add(row)
            session.flush()
            audit.record(
                session,
                who.username,
                "create_notification_target",
                f"notification target {row.id} ({row.kind}, {name})",
                url=formats.origin(row.url),
            )
            return target_json(row)

    return with_retries(write, what="create notification target")


@router.delete("/notification_targets/{target_id}/", status_code=204)
def delete_target(target_id: Id, request: Request, who: Principal = Depends(principal)) -> None:
    """Deletes the target and its outbox messages, delivered or not."""

    def write() -> None:
        with services(request).sessions.write() as session:
            row = session.get(NotificationTarget, target_id)
            if row is None:
                raise NotFound(f"notification target {target_id} does not exist")
            if row.product_id is not None:
                access.visible_product(
                    session, who, row.product_id, f"notification target {target_id}"
                )
            name = _authorize(session, who, row.product_id)
            session.delete(row)
            audit.record(
                session,
                who.username,
                "delete_notification_target",
                f"notification target {target_id} ({row.kind}, {name})",
            )

    with_retries(write, what="delete notification target")


@router.get("/outbox/")
def list_outbox(
    request: Request,
    who: Principal = Depends(principal),
    status: Literal["pending", "delivered", "failed"] | None = None,
    event: str | None = None,
    target: int | None = None,
    limit: int | None = Limit,
    offset: int | None = offset_param(),
) -> dict[str, Any]:
    """Notification messages, newest first (administrators only)."""
    access.require_admin(who)
    statement = select(OutboxMessage).order_by(OutboxMessage.id.desc())
    if status is not None:
        statement = statement.where(OutboxMessage.status == status)
    if event:
        statement = statement.where(OutboxMessage.event == event)
    if target is not None:
        statement = statement.where(OutboxMessage.target_id == target)
    with services(request).sessions.read() as session:
        return page_of(request, session, statement, limit, offset, outbox_json)


def _validate(body: TargetIn) -> None:
    parts = urlsplit(body.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise BadRequest("use an http:// or https:// URL with a host", field="url")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise BadRequest("the URL's port is not a number", field="url") from None
    unknown = sorted(set(body.events) - set(events.EVENTS))
    if unknown:
        raise BadRequest(
            f"unknown events {unknown}; events are {', '.join(events.EVENTS)}", field="events"
        )
    if body.kind == "webhook" and len(body.secret) < MIN_SECRET:
        raise BadRequest(
            f"a webhook target needs a secret of at least {MIN_SECRET} characters "
            "to sign its bodies",
            field="secret",
        )


def _authorize(session: Session, who: Principal, product_id: int | None) -> str:
    """The product's name ("all products" for a global target) once the caller may manage it."""
    if product_id is None:
        access.require_admin(who)
        return "all products"
    product = access.visible_product(session, who, product_id, f"product {product_id}")
    access.require(who, Action.MANAGE, product.name)
    return product.name


def _managed_product_ids(session: Session, who: Principal) -> list[int]:
    rows = session.execute(select(Product.id, Product.name))
    return [pid for pid, name in rows if who.can(Action.MANAGE, name)]
