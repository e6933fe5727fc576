"""The web pages: server-rendered HTML over the same store as the API.

`install(app)` adds everything the pages need to the application: their routes,
`/static/`, HTML error pages for page errors, and the security-headers middleware.
The JSON API keeps its own token auth and JSON errors.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from vulntrail.web import (
    audit_pages,
    auth_pages,
    downloads,
    finding_pages,
    pages,
    render,
    sso_pages,
    token_pages,
    triage_forms,
)
from vulntrail.web.security import SecurityHeaders
from vulntrail.web.sessions import CsrfRejected, LoginRequired, NotAllowed

STATIC = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    for module in (
        auth_pages,
        sso_pages,
        pages,
        finding_pages,
        triage_forms,
        downloads,
        token_pages,
        audit_pages,
    ):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.add_exception_handler(LoginRequired, _login_required)
    app.add_exception_handler(CsrfRejected, _csrf_rejected)
    app.add_exception_handler(render.PageNotFound, _not_found)
    app.add_exception_handler(NotAllowed, _not_allowed)
    no_csp = {app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    app.add_middleware(SecurityHeaders, no_csp_paths=frozenset(p for p in no_csp if p))


async def _login_required(request: Request, error: Exception) -> Response:
    assert isinstance(error, LoginRequired)
    return RedirectResponse(f"/login?next={quote(error.next_path, safe='')}", status_code=303)


async def _csrf_rejected(request: Request, error: Exception) -> Response:
    return render.bare(
        "error.html",
        {
            "title": "Form expired",
            "message": "This form was not sent from a current vulntrail page. "
            "Go back, reload the page and try again.",
        },
        status_code=403,
    )


async def _not_found(request: Request, error: Exception) -> Response:
    assert isinstance(error, render.PageNotFound)
    return render.bare(
        "error.html",
        {"title": "Not found", "message": f"There is no {error.what}."},
        status_code=404,
    )


async def _not_allowed(request: Request, error: Exception) -> Response:
    assert isinstance(error, NotAllowed)
    return render.bare(
        "error.html",
        {
            "title": "Not allowed",
            "message": f"Your roles do not let you {error.what}. "
            "A product owner or an administrator can grant the writer role.",
        },
        status_code=403,
    )
