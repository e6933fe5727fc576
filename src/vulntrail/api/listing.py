"""One way to answer a DefectDojo list call: count, then one page of rows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import Request
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vulntrail.api.pagination import clamp, paginated

T = TypeVar("T")


def page_of(
    request: Request,
    session: Session,
    statement: Select[tuple[T]],
    limit: int | None,
    offset: int | None,
    render: Callable[[T], dict[str, Any]],
) -> dict[str, Any]:
    size, start = clamp(limit, offset)
    count = (
        session.scalar(select(func.count()).select_from(statement.order_by(None).subquery())) or 0
    )
    rows = session.scalars(statement.limit(size).offset(start)).all()
    return paginated(request, int(count), size, start, [render(row) for row in rows])
