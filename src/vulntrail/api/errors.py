"""Every error becomes a JSON body that says what was wrong with which field; never a 500 page.

Field errors use DRF's shape, which DefectDojo clients already print:
`{"file": ["the file is not a valid Trivy Scan report: …"]}`; errors with no field
use `{"detail": "…"}`.
"""

from __future__ import annotations

import logging
from typing import Any

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vulntrail.errors import ServiceUnavailable, TooManyRequests, VulntrailError
from vulntrail.ingest.retry import is_transient

log = logging.getLogger(__name__)


def error_body(error: VulntrailError) -> dict[str, object]:
    if error.field:
        return {error.field: [error.message]}
    return {"detail": error.message}


FIELD_ERRORS_RESPONSE: dict[str, Any] = {
    "description": "Invalid request: each field maps to its messages (DRF's shape); "
    'problems with no field are under "detail".',
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "string"}]
                },
            }
        }
    },
}


def document_errors(app: FastAPI) -> None:
    """FastAPI documents validation errors as 422 with its own body; we answer 400 in DRF's
    shape (see `_validation`), so the OpenAPI document says that instead."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # cached by FastAPI: the edit below runs on the first call only
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.get("responses", {})
                if responses.pop("422", None) is not None:
                    responses.setdefault("400", FIELD_ERRORS_RESPONSE)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    document_errors(app)

    @app.exception_handler(VulntrailError)
    async def _vulntrail(_: Request, error: VulntrailError) -> JSONResponse:
        headers = {}
        if isinstance(error, ServiceUnavailable | TooManyRequests):
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

    @app.exception_handler(DataError)
    @app.exception_handler(psycopg.DataError)  # raised unwrapped by COPY (store.bulk)
    async def _data(request: Request, error: DataError | psycopg.DataError) -> JSONResponse:
        # SQLSTATE class 22: a value sent by the client that the database cannot hold
        # (an id past 32 bits, a NUL character, a name too long for its column).
        cause = error.orig if isinstance(error, DataError) else error
        reason = str(cause).strip().splitlines()[0] if str(cause).strip() else "invalid value"
        log.info("refused a value on %s %s: %s", request.method, request.url.path, reason)
        return JSONResponse(
            {"detail": f"a value in the request cannot be stored or looked up: {reason}"},
            status_code=400,
        )

    @app.exception_handler(OverflowError)
    async def _overflow(_: Request, error: OverflowError) -> JSONResponse:
        # SQLite's driver raises it for integers past 64 bits.
        return JSONResponse(
            {"detail": f"a number in the request is too large: {error}"}, status_code=400
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, error: DBAPIError) -> JSONResponse:
        # Reads are not retried like imports: a lost or busy database is a 503 there too.
        if isinstance(error, IntegrityError) or not is_transient(error):
            return await _unexpected(request, error)
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, error)
        return JSONResponse(
            {"detail": "the database is busy or unreachable; retry the request"},
            status_code=503,
            headers={"Retry-After": str(ServiceUnavailable("").retry_after)},
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, error: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(
            {"detail": "internal error; the change was not applied"}, status_code=500
        )
