"""DRF's limit/offset pagination: {count, next, previous, results}."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, Request

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000


def clamp(limit: int | None, offset: int | None) -> tuple[int, int]:
    size = DEFAULT_LIMIT if limit is None else max(1, min(limit, MAX_LIMIT))
    return size, max(0, offset or 0)


def paginated(
    request: Request, count: int, limit: int, offset: int, results: list[Any]
) -> dict[str, Any]:
    def link(new_offset: int) -> str:
        return str(request.url.include_query_params(limit=limit, offset=new_offset))

    return {
        "count": count,
        "next": link(offset + limit) if offset + limit < count else None,
        "previous": link(max(0, offset - limit)) if offset > 0 else None,
        "results": results,
    }


# Ids are 32-bit integer columns: a larger number is no id, and saying so names the
# parameter instead of letting the database refuse it (as PostgreSQL would, with a 500).
MAX_ID = 2**31 - 1
Id = Annotated[int, Path(ge=1, le=MAX_ID)]


def id_filter() -> Any:
    """A fresh Query per parameter: FastAPI must not share one between parameters."""
    return Query(None, ge=1, le=MAX_ID)


def offset_param() -> Any:
    return Query(None, ge=0, le=MAX_ID, description="Rows to skip.")
