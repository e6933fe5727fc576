"""Every error becomes a JSON body that says what was wrong with which field; never a 500 page.

Field errors use DRF's shape, which DefectDojo clients already print:
`{"file": ["the file is not a valid Trivy Scan report: …"]}`; errors with no field
use `{"detail": "…"}`.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from vulntrail.errors import ServiceUnavailable, VulntrailError

log = logging.getLogger(__name__)


def error_body(error: VulntrailError) -> dict[str, object]:
    if error.field:
        return {error.field: [error.message]}
    return {"detail": error.message}


def install(app: FastAPI) -> None:
    @app.exception_handler(VulntrailError)
    async def _vulntrail(_: Request, error: VulntrailError) -> JSONResponse:
        headers = {}
        if isinstance(error, ServiceUnavailable):
            headers["Retry-After"] = str(error.retry_after)
        if error.status_code == 401:
            headers["WWW-Authenticate"] = "Token"
        return JSONResponse(error_body(error), status_code=error.status_code, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        fields: dict[str, list[str]] = {}
        for problem in error.errors():
            location = [
                str(part)
                for part in problem.get("loc", ())
                if part not in ("body", "query", "path")
            ]
            fields.setdefault(".".join(location) or "detail", []).append(str(problem.get("msg")))
        return JSONResponse(fields, status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"detail": error.detail}, status_code=error.status_code, headers=error.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "internal error; the change was not applied"}, status_code=500
        )
