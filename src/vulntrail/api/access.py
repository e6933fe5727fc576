"""Permission checks every route makes, in one place.

Refusals: 403 for an action on a product the caller may not act on; objects of
products the caller may not read are answered as missing (404), and lists leave
them out, so a scoped token learns nothing about other products.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from vulntrail.auth.roles import Action
from vulntrail.auth.tokens import Principal
from vulntrail.errors import NotFound, PermissionDenied
from vulntrail.store.models import Product

_VERB = {
    Action.READ: "read",
    Action.TRIAGE: "triage findings of",
    Action.IMPORT: "import into",
    Action.CREATE_PRODUCT: "create",
    Action.MANAGE: "change the settings of",
    Action.GRANT: "grant roles on",
}


def require(who: Principal, action: Action, product_name: str) -> None:
    if not who.can(action, product_name):
        raise PermissionDenied(f"{who.username!r} may not {_VERB[action]} product {product_name!r}")


def require_admin(who: Principal) -> None:
    if not who.is_admin:
        raise PermissionDenied("only an administrator may do this")


def require_somewhere(who: Principal, action: Action) -> None:
    if not who.can_somewhere(action):
        raise PermissionDenied(f"{who.username!r} has no role that may {action.value}")


def readable_product_ids(session: Session, who: Principal) -> Sequence[int] | None:
    """The products the caller may read; None means all of them."""
    if who.is_admin:
        return None
    rows = session.execute(select(Product.id, Product.name))
    return [pid for pid, name in rows if who.can(Action.READ, name)]


def visible_product(session: Session, who: Principal, product_id: int, what: str) -> Product:
    """The product of an object the caller asked for by id; 404 when it may not read it."""
    product = session.get(Product, product_id)
    if product is None or not who.can(Action.READ, product.name):
        raise NotFound(f"{what} does not exist")
    return product
