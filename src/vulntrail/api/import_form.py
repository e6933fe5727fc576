"""DefectDojo's multipart import fields → an ImportRequest, with per-field errors.

Fields are parsed by hand rather than by FastAPI's form model because DefectDojo
clients send booleans as "true"/"True"/"1"/"on", tags as repeated or comma-separated
values, and expect every problem reported at once under the field's name.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from starlette.datastructures import FormData, UploadFile

from vulntrail import clock
from vulntrail.ingest.request import ImportRequest, Mode
from vulntrail.parsers.interface import Severity

_TRUE = {"true", "1", "yes", "on", "t", "y"}
_FALSE = {"false", "0", "no", "off", "f", "n", ""}
_TEXT_FIELDS = {
    "product_name": 255,
    "product_type_name": 255,
    "engagement_name": 255,
    "test_title": 255,
    "branch_tag": 255,
    "commit_hash": 255,
    "build_id": 255,
    "version": 100,
    "source_code_management_uri": 600,
    "scan_type": 255,
}
# Accepted for compatibility; they do not change what vulntrail records.
_ECHOED = (
    "endpoint_to_add",
    "lead",
    "push_to_jira",
    "environment",
    "api_scan_configuration",
    "service",
    "group_by",
    "create_finding_groups_for_all_findings",
    "apply_tags_to_findings",
    "apply_tags_to_endpoints",
    "close_old_findings_product_scope",
    "do_not_reactivate",
    "deduplication_on_engagement",
    "deduplication_execution_mode",
)


# Ids are 32-bit INTEGER columns; a larger number is no id (and PostgreSQL would refuse it).
MAX_ID = 2_147_483_647
# Compressed uploads are not accepted: say so instead of "not valid UTF-8".
_COMPRESSED = {
    b"\x1f\x8b": "gzip",
    b"PK\x03\x04": "zip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


class FormErrors(Exception):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid import form")
        self.errors = errors


class _Reader:
    def __init__(self, form: FormData) -> None:
        self.form = form
        self.errors: dict[str, list[str]] = {}

    def fail(self, name: str, message: str) -> None:
        self.errors.setdefault(name, []).append(message)

    def text(self, name: str) -> str | None:
        value = self.form.get(name)
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(name, "must be a text field, not a file")
            return None
        if "\x00" in value:
            self.fail(name, "must not contain NUL characters")
            return None
        limit = _TEXT_FIELDS.get(name)
        if limit is not None and len(value) > limit:
            self.fail(name, f"must be at most {limit} characters (got {len(value)})")
            return None
        return value.strip() or None

    def boolean(self, name: str) -> bool | None:
        raw = self.text(name)
        if raw is None:
            return None if name not in self.form else False
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        self.fail(name, f"must be true or false, not {raw!r}")
        return None

    def integer(self, name: str) -> int | None:
        raw = self.text(name)
        if raw is None:
            return None
        # isascii: "²".isdigit() is true but int("²") raises.
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            self.fail(name, f"must be a positive whole number (an id), not {raw[:40]!r}")
            return None
        if int(raw) > MAX_ID:
            self.fail(name, f"there is no {name} {raw}: ids go up to {MAX_ID}")
            return None
        return int(raw)

    def day(self, name: str, *, not_future: bool = False) -> date | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = date.fromisoformat(raw[:10])
        except ValueError:
            self.fail(name, f"must be a date as YYYY-MM-DD, not {raw[:40]!r}")
            return None
        if not_future and value > clock.now().date():
            self.fail(name, "cannot be in the future")
            return None
        return value

    def severity(self, name: str) -> Severity:
        raw = self.text(name)
        if raw is None:
            return Severity.INFO
        key = raw.strip().upper()
        if key not in Severity.__members__ and key not in ("INFORMATIONAL",):
            self.fail(name, f"must be one of Info, Low, Medium, High, Critical, not {raw[:40]!r}")
            return Severity.INFO
        return Severity.from_label(key)

    def tags(self, name: str) -> tuple[str, ...]:
        out: list[str] = []
        for value in self.form.getlist(name):
            if not isinstance(value, str):
                self.fail(name, "must be text")
                continue
            out.extend(part.strip() for part in value.split(",") if part.strip())
        if any(len(tag) > 100 for tag in out):
            self.fail(name, "each tag must be at most 100 characters")
        return tuple(dict.fromkeys(out))


def upload(form: FormData) -> UploadFile | None:
    value = form.get("file")
    return value if isinstance(value, UploadFile) else None


def build_request(form: FormData, mode: Mode, report: bytes | None) -> ImportRequest:
    """Validate every field; raise FormErrors listing all problems at once."""
    reader = _Reader(form)
    scan_type = reader.text("scan_type")
    if scan_type is None and "scan_type" not in reader.errors:
        reader.fail("scan_type", "This field is required.")
    if report is None and "file" not in form:
        reader.fail("file", "This field is required: attach the scan report as 'file'.")
    elif report is None:
        reader.fail("file", "must be a file upload (multipart/form-data with a filename).")
    elif compression := _compression(report):
        reader.fail(
            "file",
            f"the file is {compression}-compressed; upload the uncompressed Trivy JSON report",
        )
    values: dict[str, Any] = {
        "product_name": reader.text("product_name"),
        "product_type_name": reader.text("product_type_name"),
        "engagement_name": reader.text("engagement_name"),
        "engagement_id": reader.integer("engagement"),
        "test_id": reader.integer("test") if mode is Mode.REIMPORT else None,
        "test_title": reader.text("test_title"),
        "auto_create_context": bool(reader.boolean("auto_create_context")),
        "branch_tag": reader.text("branch_tag"),
        "commit_hash": reader.text("commit_hash"),
        "build_id": reader.text("build_id"),
        "version": reader.text("version"),
        "source_code_management_uri": reader.text("source_code_management_uri"),
        "engagement_end_date": reader.day("engagement_end_date"),
        "scan_date": reader.day("scan_date", not_future=True),
        "minimum_severity": reader.severity("minimum_severity"),
        "active": reader.boolean("active"),
        "verified": reader.boolean("verified"),
        "close_old_findings": reader.boolean("close_old_findings"),
        "tags": reader.tags("tags"),
    }
    echo = {name: form.get(name) for name in _ECHOED if isinstance(form.get(name), str)}
    if reader.errors:
        raise FormErrors(reader.errors)
    assert scan_type is not None and report is not None
    file_name = getattr(upload(form), "filename", "") or ""
    return ImportRequest(
        mode=mode, scan_type=scan_type, report=report, file_name=file_name, echo=echo, **values
    )


def openapi_request_body(mode: Mode) -> dict[str, Any]:
    """The multipart form, for the OpenAPI document (the route reads the form by hand)."""
    text = {name: {"type": "string", "maxLength": limit} for name, limit in _TEXT_FIELDS.items()}
    flags = ("auto_create_context", "active", "verified", "close_old_findings")
    properties: dict[str, Any] = {
        **text,
        "scan_type": {"type": "string", "enum": ["Trivy Scan"]},
        "file": {"type": "string", "format": "binary", "description": "Trivy JSON report"},
        "engagement": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
        **{name: {"type": "boolean"} for name in flags},
        "engagement_end_date": {"type": "string", "format": "date"},
        "scan_date": {"type": "string", "format": "date"},
        "minimum_severity": {
            "type": "string",
            "enum": ["Info", "Low", "Medium", "High", "Critical"],
        },
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 100}},
    }
    if mode is Mode.REIMPORT:
        properties["test"] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
    schema = {"type": "object", "required": ["scan_type", "file"], "properties": properties}
    return {
        "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": schema}}}
    }


def _compression(report: bytes) -> str | None:
    return next((name for magic, name in _COMPRESSED.items() if report.startswith(magic)), None)


def response_body(request: ImportRequest, result_fields: dict[str, Any]) -> dict[str, Any]:
    """DefectDojo's 201 body: the validated fields echoed back, plus ids and statistics."""
    body: dict[str, Any] = {
        "scan_date": request.scan_date.isoformat() if request.scan_date else None,
        "minimum_severity": request.minimum_severity.label,
        "active": request.active if request.active is not None else True,
        "verified": request.verified if request.verified is not None else False,
        "scan_type": request.scan_type,
        "product_type_name": request.product_type_name,
        "product_name": request.product_name,
        "engagement_name": request.engagement_name,
        "engagement_end_date": request.engagement_end_date.isoformat()
        if request.engagement_end_date
        else None,
        "test_title": request.test_title,
        "auto_create_context": request.auto_create_context,
        "branch_tag": request.branch_tag,
        "commit_hash": request.commit_hash,
        "build_id": request.build_id,
        "version": request.version,
        "source_code_management_uri": request.source_code_management_uri,
        "close_old_findings": bool(request.close_old_findings)
        if request.close_old_findings is not None
        else request.mode is Mode.REIMPORT,
        "tags": list(request.tags),
        **request.echo,
    }
    if request.mode is Mode.REIMPORT:
        body["do_not_reactivate"] = request.echo.get("do_not_reactivate", "false") in _TRUE
    body.update(result_fields)
    return body
