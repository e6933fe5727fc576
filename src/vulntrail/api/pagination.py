"""DRF's limit/offset pagination: {count, next, previous, results}."""

from __future__ import annotations

from typing import Any

from fastapi import Request

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
