"""Who may do what: roles granted per product-name pattern.

A grant is a role and a glob over product names (`orchestrator-*`, `*`). Roles:

| role       | may                                                        |
|------------|------------------------------------------------------------|
| reader     | read                                                       |
| writer     | read, triage                                               |
| importer   | read, import, create products (CI: create-or-import only)  |
| maintainer | read, triage, import, create products, manage settings     |
| owner      | everything a maintainer may, and grant roles on its products |

A global admin may do everything, including users, tokens and the audit log.
Pure functions: no database, no web.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from fnmatch import fnmatchcase


class Role(StrEnum):
    READER = "reader"
    WRITER = "writer"
    IMPORTER = "importer"
    MAINTAINER = "maintainer"
    OWNER = "owner"


class Action(StrEnum):
    READ = "read"
    TRIAGE = "triage"
    IMPORT = "import"
    CREATE_PRODUCT = "create_product"
    MANAGE = "manage"
    GRANT = "grant"


ROLE_ACTIONS: dict[Role, frozenset[Action]] = {
    Role.READER: frozenset({Action.READ}),
    Role.WRITER: frozenset({Action.READ, Action.TRIAGE}),
    Role.IMPORTER: frozenset({Action.READ, Action.IMPORT, Action.CREATE_PRODUCT}),
    Role.MAINTAINER: frozenset(
        {Action.READ, Action.TRIAGE, Action.IMPORT, Action.CREATE_PRODUCT, Action.MANAGE}
    ),
    Role.OWNER: frozenset(
        {
            Action.READ,
            Action.TRIAGE,
            Action.IMPORT,
            Action.CREATE_PRODUCT,
            Action.MANAGE,
            Action.GRANT,
        }
    ),
}


class RoleError(ValueError):
    """A role name or product pattern that cannot be used; the message says which."""


@dataclass(frozen=True, slots=True)
class Grant:
    role: Role
    products: str = "*"

    def allows(self, action: Action, product_name: str) -> bool:
        return action in ROLE_ACTIONS[self.role] and fnmatchcase(product_name, self.products)

    def allows_somewhere(self, action: Action) -> bool:
        return action in ROLE_ACTIONS[self.role]


def parse_role(text: str) -> Role:
    try:
        return Role(text.strip().lower())
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise RoleError(f"unknown role {text!r}; roles are {names}") from None


def parse_pattern(text: str) -> str:
    pattern = text.strip()
    if not pattern or len(pattern) > 255 or any(ch in pattern for ch in "\x00\n\r"):
        raise RoleError(f"product pattern {text!r} must be 1 to 255 characters on one line")
    return pattern


def allows(grants: Iterable[Grant], action: Action, product_name: str) -> bool:
    return any(grant.allows(action, product_name) for grant in grants)
