"""Triage beyond one finding: notes, bulk changes on a filtered set, SLA summaries."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from vulntrail import clock
from vulntrail.api import access
from vulntrail.api.deps import principal, services, sla_days
from vulntrail.api.findings import TriagePatch, plain_values, severity_value, visible_finding
from vulntrail.api.pagination import Id
from vulntrail.auth.roles import Action
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest
from vulntrail.ingest.retry import with_retries
from vulntrail.store import audit, findings_repo, sla_repo, triage
from vulntrail.store.models import Finding, FindingNote, Product

router = APIRouter(prefix="/api/v2", tags=["triage"])


class NoteIn(BaseModel):
    entry: str = Field(
        min_length=1, max_length=20_000, description="The note's text (DefectDojo's field name)."
    )


@router.get("/findings/{finding_id}/notes/")
def list_notes(
    finding_id: Id, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    with services(request).sessions.read() as session:
        visible_finding(session, finding_id, who)
        rows = session.scalars(
            select(FindingNote).where(FindingNote.finding_id == finding_id).order_by(FindingNote.id)
        ).all()
    notes = [_note_json(row) for row in rows]
    return {"count": len(notes), "next": None, "previous": None, "results": notes}


@router.post("/findings/{finding_id}/notes/", status_code=201)
def add_note(
    finding_id: Id, body: NoteIn, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    def write() -> dict[str, Any]:
        with services(request).sessions.write() as session:
            finding = visible_finding(session, finding_id, who)
            product = access.visible_product(session, who, finding.product_id, "")
            access.require(who, Action.TRIAGE, product.name)
            note = triage.add_note(session, finding, body.entry, who.username)
            return _note_json(note)

    return with_retries(write, what="add note")


def _note_json(note: FindingNote) -> dict[str, Any]:
    return {
        "id": note.id,
        "entry": note.text,
        "author": note.author,
        "date": clock.aware(note.created).isoformat(),
    }


class BulkTriage(BaseModel):
    """Triage every finding a filter selects (the same filters as the list)."""

    model_config = ConfigDict(extra="forbid")
    filters: dict[str, Any] = Field(
        description="Query parameters of GET /findings/, e.g. product_name, severity."
    )
    changes: TriagePatch


@router.post("/findings/bulk_triage/")
def bulk_triage(
    body: BulkTriage, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """Apply one triage change to a filtered set; findings the caller may not triage are
    left alone and counted as `refused`."""
    changes = body.changes.model_dump(exclude_unset=True)
    if not changes:
        raise BadRequest("nothing to change", field="changes")
    svc = services(request)
    today = clock.now().date()

    def write() -> dict[str, Any]:
        with svc.sessions.write() as session:
            filters = _bulk_filters(session, body.filters, who)
            ids = list(session.scalars(findings_repo.filtered(filters, today)))
            changed = refused = 0
            names = dict(session.execute(select(Product.id, Product.name)).tuples().all())
            for part in range(0, len(ids), 500):
                for finding in session.scalars(
                    select(Finding).where(Finding.id.in_(ids[part : part + 500]))
                ):
                    if not who.can(Action.TRIAGE, names[finding.product_id]):
                        refused += 1
                    elif triage.apply_triage(session, finding, dict(changes), who.username):
                        changed += 1
            audit.record(
                session,
                who.username,
                "bulk_triage",
                f"{len(ids)} findings",
                filters=body.filters,
                changes=plain_values(changes),
                changed=changed,
            )
            return {"matched": len(ids), "changed": changed, "refused": refused}

    return with_retries(write, what="bulk triage")


_BULK_FILTERS = {
    "product_name": str,
    "product": int,
    "severity": str,
    "vulnerability_id": str,
    "component_name": str,
    "active": bool,
    "title": str,
    "component_version": str,
}


def _bulk_filters(
    session: Any, raw: dict[str, Any], who: Principal
) -> findings_repo.FindingFilters:
    unknown = set(raw) - set(_BULK_FILTERS)
    if unknown:
        raise BadRequest(
            f"unknown filters {sorted(unknown)}; use {sorted(_BULK_FILTERS)}", field="filters"
        )
    values: dict[str, Any] = {}
    for key, value in raw.items():
        kind = _BULK_FILTERS[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise BadRequest(f"{key} must be a {kind.__name__}", field="filters")
        values[key] = value
    if "severity" in values:
        values["severity"] = severity_value(values["severity"])
    if "product" in values:
        values["product_id"] = values.pop("product")
    return findings_repo.FindingFilters(
        **values, product_ids=access.readable_product_ids(session, who)
    )


@router.get("/sla/")
def sla_summary(request: Request, who: Principal = Depends(principal)) -> dict[str, Any]:
    """Active findings per product and severity: overdue, and due within 7 days."""
    svc = services(request)
    with svc.sessions.read() as session:
        rows = sla_repo.summary(session, sla_days(svc), clock.now().date())
        readable = access.readable_product_ids(session, who)
    if readable is not None:
        rows = [row for row in rows if row["product"] in set(readable)]
    return {"sla_days": sla_days(svc), "count": len(rows), "results": rows}
