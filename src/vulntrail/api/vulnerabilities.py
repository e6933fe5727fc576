"""Cross-product questions: where is CVE-X, since when, in which versions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from sqlalchemy import or_, select

from vulntrail import clock
from vulntrail.api import access
from vulntrail.api.deps import principal, services
from vulntrail.api.serializers import iso
from vulntrail.auth.tokens import Principal
from vulntrail.errors import NotFound
from vulntrail.parsers.interface import Severity
from vulntrail.store import findings_repo
from vulntrail.store.models import Engagement, Finding, Product

router = APIRouter(prefix="/api/v2", tags=["vulnerabilities"])


def _readable(session: Any, who: Principal) -> list[Any]:
    readable = access.readable_product_ids(session, who)
    return [] if readable is None else [Finding.product_id.in_(readable)]


@router.get("/vulnerabilities/{vulnerability_id}/")
def vulnerability(
    vulnerability_id: str, request: Request, who: Principal = Depends(principal)
) -> dict[str, Any]:
    """Every product with this vulnerability: open on its default branch or not, since
    which run, in which package versions."""
    today = clock.now().date()
    wanted = vulnerability_id.strip().upper()
    with services(request).sessions.read() as session:
        rows = session.execute(
            select(Finding, Product.name, Engagement.name)
            .join(Product, Product.id == Finding.product_id)
            .outerjoin(Engagement, Engagement.id == Finding.first_seen_engagement_id)
            .where(or_(Finding.rule_id == wanted, Finding.rule_id == vulnerability_id))
            .where(*_readable(session, who))
            .order_by(Product.name, Finding.package_name, Finding.id)
        ).all()
        active_ids = set(
            session.scalars(
                select(Finding.id).where(
                    Finding.id.in_([f.id for f, _, _ in rows]), findings_repo.active_expr(today)
                )
            )
        )
    if not rows:
        raise NotFound(f"no product has {vulnerability_id!r}")
    products: dict[str, dict[str, Any]] = {}
    for finding, product_name, first_engagement in rows:
        entry = products.setdefault(
            product_name,
            {
                "product": finding.product_id,
                "product_name": product_name,
                "open": False,
                "findings": [],
            },
        )
        active = finding.id in active_ids
        entry["open"] = entry["open"] or active
        entry["findings"].append(
            {
                "id": finding.id,
                "component_name": finding.package_name or None,
                "component_version": finding.installed_version or None,
                "fixed_version": finding.fixed_version or None,
                "location": finding.location,
                "severity": Severity(finding.severity).label,
                "active": active,
                "is_mitigated": finding.on_default_branch and not finding.present,
                "first_seen": iso(finding.first_seen_at),
                "first_seen_engagement_name": first_engagement,
                "mitigated": iso(finding.mitigated_at),
            }
        )
    ordered = sorted(products.values(), key=lambda p: (not p["open"], p["product_name"]))
    return {
        "vulnerability_id": rows[0][0].rule_id,
        "open_in_products": sum(1 for p in ordered if p["open"]),
        "products": ordered,
    }
