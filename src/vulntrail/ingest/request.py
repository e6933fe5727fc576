"""What an import or re-import asks for, validated, independent of HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Protocol

from vulntrail.parsers.interface import Severity


class Authorizer(Protocol):
    """The caller's permission check, handed in by the web layer.

    `action` is "import" or "create_product"; `hidden` names the object the caller
    asked for by id, to answer "does not exist" when it may not even read the product.
    """

    def __call__(self, action: str, product_name: str, *, hidden: str | None = None) -> None: ...


def allow_all(action: str, product_name: str, *, hidden: str | None = None) -> None:
    """For trusted callers (the command line, tests of the trail itself)."""


class Mode(StrEnum):
    IMPORT = "import"
    REIMPORT = "reimport"


@dataclass(frozen=True, slots=True)
class ImportRequest:
    mode: Mode
    scan_type: str
    report: bytes
    file_name: str = ""
    product_name: str | None = None
    product_type_name: str | None = None
    engagement_name: str | None = None
    engagement_id: int | None = None
    test_id: int | None = None
    test_title: str | None = None
    auto_create_context: bool = False
    branch_tag: str | None = None
    commit_hash: str | None = None
    build_id: str | None = None
    version: str | None = None
    source_code_management_uri: str | None = None
    engagement_end_date: date | None = None
    scan_date: date | None = None
    minimum_severity: Severity = Severity.INFO
    active: bool | None = None
    verified: bool | None = None
    close_old_findings: bool | None = None
    tags: tuple[str, ...] = ()
    # Accepted DefectDojo fields that do not change vulntrail's behaviour, echoed back.
    echo: dict[str, Any] = field(default_factory=dict)
    authorize: Authorizer = allow_all
    actor: str = ""


@dataclass(frozen=True, slots=True)
class ImportResult:
    test_id: int
    engagement_id: int
    product_id: int
    product_type_id: int
    statistics: dict[str, Any]
    changed: bool  # False when the same report was already imported there (a retry)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase
