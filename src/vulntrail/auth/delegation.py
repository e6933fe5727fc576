"""Handing on rights: a token may carry only rights its creator has itself."""

from __future__ import annotations

from fnmatch import fnmatchcase

from vulntrail.auth.roles import ROLE_ACTIONS, Grant
from vulntrail.auth.tokens import Principal


def covers(who: Principal, wanted: Grant) -> bool:
    """True when one of `who`'s grants allows every action of `wanted` on every product
    `wanted` can name: the role's actions are a subset and the pattern matches the grant's
    pattern (read as a name, so `orchestrator-*` is inside `orchestrator-*` and `*`)."""
    if who.is_admin:
        return True
    actions = ROLE_ACTIONS[wanted.role]
    return any(
        actions <= ROLE_ACTIONS[grant.role] and fnmatchcase(wanted.products, grant.products)
        for grant in who.grants
    )
