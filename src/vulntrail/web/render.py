"""Rendering pages: one Jinja2 environment with autoescape on, template filters, pagers.

Every value from a report is untrusted. Templates never mark report text safe;
links are only made of http(s) URLs (`is_http`), and descriptions are shown as
escaped text.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vulntrail import __version__, clock
from vulntrail.api import access
from vulntrail.auth.roles import Action
from vulntrail.parsers.interface import Severity
from vulntrail.store.listing import SEVERITY_RANGE
from vulntrail.store.models import Engagement, Finding, Product
from vulntrail.web import runs
from vulntrail.web.charts import sparkline
from vulntrail.web.sessions import WebUser

TEMPLATES = Path(__file__).parent / "templates"
SEVERITIES = [Severity(s) for s in SEVERITY_RANGE]


def is_http(url: Any) -> bool:
    """True for absolute http(s) URLs only: no javascript:, data:, relative or odd text."""
    if not isinstance(url, str) or url != url.strip() or any(ord(c) < 33 for c in url):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def relative_time(value: datetime | None, now: datetime | None = None) -> str:
    if value is None:
        return "never"
    seconds = int(((now or clock.now()) - clock.aware(value)).total_seconds())
    future = seconds < 0
    seconds = abs(seconds)
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "just now"


def absolute_time(value: datetime | None) -> str:
    if value is None:
        return ""
    return clock.aware(value).strftime("%Y-%m-%d %H:%M UTC")


def iso_time(value: datetime | None) -> str:
    return clock.aware(value).isoformat() if value is not None else ""


def severity_label(value: int) -> str:
    return Severity(value).label


def short_commit(value: str | None) -> str:
    return (value or "")[:12]


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        reltime=relative_time,
        abstime=absolute_time,
        isotime=iso_time,
        sev=severity_label,
        commit=short_commit,
    )
    env.tests["http"] = is_http
    env.globals.update(severities=SEVERITIES, version=__version__)
    return env


@dataclass(frozen=True, slots=True)
class Pager:
    """Page links that keep the other query parameters of the current view."""

    total: int
    page: int
    per_page: int
    params: Mapping[str, Any]
    key: str = "page"

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    @property
    def first_shown(self) -> int:
        return min(self.total, self.offset + 1)

    @property
    def last_shown(self) -> int:
        return min(self.total, self.offset + self.per_page)

    def href(self, page: int) -> str:
        return query_string(self.params, **{self.key: page if page > 1 else None})

    def window(self, width: int = 2) -> list[int]:
        low, high = max(1, self.page - width), min(self.pages, self.page + width)
        return list(range(low, high + 1))


def readable(session: Session, who: WebUser) -> Sequence[int] | None:
    """Ids of the products the user may read (None: all of them)."""
    return access.readable_product_ids(session, who.principal)


def product_for(session: Session, who: WebUser, product_id: int, what: str) -> Product:
    """The product a page is about; "not found" also when the user may not read it, so
    pages tell nothing about products outside the user's roles."""
    product = session.get(Product, product_id)
    if product is None or not who.can(Action.READ, product):
        raise PageNotFound(what)
    return product


class PageNotFound(Exception):
    """The page names a product, engagement or finding that does not exist."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


def page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or 1), 1_000_000))
    except ValueError:
        return 1


def query_string(params: Mapping[str, Any], **changes: Any) -> str:
    """`?a=1&b=2` from the current parameters with some replaced (None removes)."""
    merged: list[tuple[str, str]] = []
    for key, value in params.items():
        if key in changes:
            continue
        values = value if isinstance(value, list | tuple) else [value]
        merged += [(key, str(v)) for v in values if v not in (None, "")]
    for key, value in changes.items():
        if value not in (None, ""):
            merged.append((key, str(value)))
    return "?" + urlencode(merged) if merged else "?"


_SIDEBARS: dict[tuple[Any, ...], list[Any]] = {}
_SIDEBARS_LOCK = threading.Lock()


def _store_version(session: Session) -> tuple[Any, ...]:
    """Changes whenever what the sidebar shows may have changed: a run arrived, a status
    or triage changed, a product's settings changed (each an indexed max)."""
    return (
        str(session.get_bind().engine.url),
        session.scalar(select(func.max(Engagement.updated))),
        session.scalar(select(func.max(Finding.last_status_update))),
        session.scalar(select(func.max(Product.updated))),
        session.scalar(select(func.count()).select_from(Product)),
    )


def sidebar(session: Session, who: WebUser) -> list[dict[str, Any]]:
    """The products of the sidebar, computed once per store version and reader scope:
    every page shows it, and its trends read every span of every default branch."""
    today = clock.now().date()
    product_ids = readable(session, who)
    key = (today, tuple(product_ids) if product_ids is not None else None, *_store_version(session))
    with _SIDEBARS_LOCK:
        cached = _SIDEBARS.get(key)
    if cached is not None:
        return cached
    rows = runs.product_rows(session, today, spark_runs=12, product_ids=product_ids)
    result = [
        {
            "row": row,
            "spark": sparkline(
                row.trend,
                label=f"{row.product.name}: findings present in the last {len(row.trend)} runs",
                width=64,
                height=18,
            ),
        }
        for row in rows
    ]
    with _SIDEBARS_LOCK:
        if len(_SIDEBARS) > 256:  # stale versions: start over
            _SIDEBARS.clear()
        _SIDEBARS[key] = result
    return result


def page(
    request: Request,
    session: Session,
    who: WebUser | None,
    template: str,
    context: Mapping[str, Any],
    *,
    status_code: int = 200,
    current_product: int | None = None,
) -> HTMLResponse:
    body = (
        environment()
        .get_template(template)
        .render(
            request=request,
            who=who,
            nav=sidebar(session, who) if who is not None else [],
            current_product=current_product,
            now=clock.now(),
            **context,
        )
    )
    return HTMLResponse(body, status_code=status_code)


def bare(template: str, context: Mapping[str, Any], *, status_code: int = 200) -> HTMLResponse:
    """A page without the product sidebar (login, errors before login)."""
    body = (
        environment()
        .get_template(template)
        .render(request=None, who=None, nav=[], current_product=None, now=clock.now(), **context)
    )
    return HTMLResponse(body, status_code=status_code)
