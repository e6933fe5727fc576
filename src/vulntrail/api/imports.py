"""POST /api/v2/import-scan/ and /api/v2/reimport-scan/, as DefectDojo's CI job calls them."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from starlette.types import Message

from vulntrail import metrics
from vulntrail.api import access, import_form
from vulntrail.api.deps import principal, services
from vulntrail.auth.roles import Action
from vulntrail.auth.tokens import Principal
from vulntrail.errors import BadRequest, NotFound, PayloadTooLarge
from vulntrail.ingest.gcpause import paused_gc
from vulntrail.ingest.request import Authorizer, ImportResult, Mode

router = APIRouter(prefix="/api/v2", tags=["import"])


@router.post(
    "/import-scan/",
    status_code=201,
    summary="Import a scan report into an engagement",
    openapi_extra=import_form.openapi_request_body(Mode.IMPORT),
)
async def import_scan(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    with paused_gc():
        answer = _handle(request, Mode.IMPORT, who)
        return await metrics.of(request).observe_import("import", answer)


@router.post(
    "/reimport-scan/",
    status_code=201,
    summary="Re-import a scan report into a test",
    openapi_extra=import_form.openapi_request_body(Mode.REIMPORT),
)
async def reimport_scan(request: Request, who: Principal = Depends(principal)) -> JSONResponse:
    with paused_gc():
        answer = _handle(request, Mode.REIMPORT, who)
        return await metrics.of(request).observe_import("reimport", answer)


def authorizer(who: Principal) -> Authorizer:
    """The import's permission check for this caller (see ingest.request.Authorizer)."""

    def check(action: str, product_name: str, *, hidden: str | None = None) -> None:
        if hidden is not None and not who.can(Action.READ, product_name):
            raise NotFound(f"{hidden} does not exist")
        access.require(who, Action(action), product_name)

    return check


async def _handle(request: Request, mode: Mode, who: Principal) -> JSONResponse:
    svc = services(request)
    limit = svc.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if (
        declared
        and declared.isascii()
        and declared.isdigit()
        and int(declared) > limit + _FORM_OVERHEAD
    ):
        raise PayloadTooLarge(f"the upload is larger than the limit of {limit} bytes", field="file")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
        raise BadRequest(
            "send the report as multipart/form-data with the fields scan_type and file",
            field="file" if content_type else None,
        )
    started = time.perf_counter()
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise BadRequest(
            f"Content-Encoding {encoding!r} is not accepted: send the report uncompressed",
            field="file",
        )
    try:
        form = await _capped(request, limit).form(max_files=2, max_fields=200)
    except PayloadTooLarge:
        raise
    except Exception as error:
        raise BadRequest(f"the multipart body could not be read: {error}") from None
    try:
        upload = import_form.upload(form)
        report = await upload.read(limit + 1) if upload is not None else None
        if report is not None and len(report) > limit:
            raise PayloadTooLarge(
                f"the file is larger than the limit of {limit} bytes", field="file"
            )
        try:
            import_request = import_form.build_request(form, mode, report)
            import_request = dataclasses.replace(
                import_request, authorize=authorizer(who), actor=who.username
            )
        except import_form.FormErrors as errors:
            return JSONResponse(errors.errors, status_code=400)
    finally:
        # The report's bytes live on in `import_request`: free the upload's own copy
        # before parsing, which is when memory peaks.
        await form.close()
        del form
    received = time.perf_counter()
    result: ImportResult = await run_in_threadpool(svc.imports.run, import_request)
    body = import_form.response_body(import_request, _result_fields(result))
    timings = {"receive": received - started, **result.timings}
    server_timing = ", ".join(
        f"{name};dur={seconds * 1000:.1f}" for name, seconds in timings.items()
    )
    return JSONResponse(body, status_code=201, headers={"Server-Timing": server_timing})


# Room for the other form fields and the multipart framing around the report.
_FORM_OVERHEAD = 1_000_000


def _capped(request: Request, limit: int) -> Request:
    """The request with a body that stops being read once it is past the limit, with or
    without a Content-Length (a chunked upload declares no size)."""
    seen = 0

    async def receive() -> Message:
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > limit + _FORM_OVERHEAD:
            raise PayloadTooLarge(
                f"the upload is larger than the limit of {limit} bytes", field="file"
            )
        return message

    return Request(request.scope, receive)


def _result_fields(result: ImportResult) -> dict[str, Any]:
    return {
        "test": result.test_id,
        "test_id": result.test_id,
        "engagement_id": result.engagement_id,
        "product_id": result.product_id,
        "product_type_id": result.product_type_id,
        "statistics": result.statistics,
        "deduplication_complete": True,
    }
