"""Finding exports as CSV, JSON and SARIF 2.1.0: pure functions, records in, text chunks out.

A record is a plain mapping with the keys of `COLUMNS` (plus `references`, a list).
The functions take any iterable of records and yield text a batch at a time, so a
caller can stream 100,000 findings from a database cursor without holding them.
Every value is report data, hence untrusted: CSV cells that a spreadsheet would run
as a formula are defused, JSON is encoded by the standard encoder.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

Record = Mapping[str, Any]

COLUMNS = (
    "id",
    "product",
    "engagement",
    "vulnerability_id",
    "title",
    "severity",
    "status",
    "package",
    "installed_version",
    "fixed_version",
    "kind",
    "location",
    "cvss_score",
    "cvss_vector",
    "cwes",
    "first_seen",
    "url",
    "description",
)
BATCH = 200
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_LEVELS = {"Critical": "error", "High": "error", "Medium": "warning", "Low": "note", "Info": "note"}


def _batched(records: Iterable[Record]) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def csv_cell(value: Any) -> str:
    """A cell as text; a leading =, +, -, @ gets a quote so spreadsheets show, not run, it."""
    if value is None:
        return ""
    text = " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def csv_chunks(records: Iterable[Record], columns: tuple[str, ...] = COLUMNS) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(columns)
    yield buffer.getvalue()
    for batch in _batched(records):
        buffer.seek(0)
        buffer.truncate()
        for record in batch:
            writer.writerow([csv_cell(record.get(column)) for column in columns])
        yield buffer.getvalue()


def json_chunks(records: Iterable[Record], view: Mapping[str, Any]) -> Iterator[str]:
    """`{"view": …, "results": […], "count": n}`; the count comes last, once known."""
    yield '{"view": ' + json.dumps(view, default=str) + ', "results": ['
    count = 0
    for batch in _batched(records):
        text = ", ".join(json.dumps(dict(r), default=str) for r in batch)
        yield (", " if count else "") + text
        count += len(batch)
    yield f'], "count": {count}}}\n'


def sarif_level(severity: str) -> str:
    return _LEVELS.get(severity, "note")


def artifact_uri(location: str) -> str:
    """A location (lock file, jar, image target) as a relative URI reference."""
    return quote(location.strip().lstrip("/"), safe="/._-~") or "unknown"


def _result(record: Record, rule_index: int) -> dict[str, Any]:
    package = record.get("package") or ""
    version = record.get("installed_version") or ""
    fixed = record.get("fixed_version") or ""
    text = f"{record['vulnerability_id']} in {package or 'the artifact'}"
    text += f" {version}" if version else ""
    text += f" (fixed in {fixed})" if fixed else " (no fix available)"
    location: dict[str, Any] = {
        "physicalLocation": {
            "artifactLocation": {"uri": artifact_uri(str(record.get("location") or package))}
        }
    }
    if package:
        location["logicalLocations"] = [
            {"name": f"{package}@{version}" if version else package, "kind": "module"}
        ]
    return {
        "ruleId": record["vulnerability_id"],
        "ruleIndex": rule_index,
        "level": sarif_level(str(record.get("severity"))),
        "message": {"text": text},
        "locations": [location],
        "partialFingerprints": {"vulntrailFinding/v1": str(record["id"])},
        "properties": {
            "severity": record.get("severity"),
            "status": record.get("status"),
            "product": record.get("product"),
            "url": record.get("url"),
        },
    }


def _rule(record: Record) -> dict[str, Any]:
    references = [r for r in record.get("references") or [] if str(r).startswith("https://")]
    rule: dict[str, Any] = {
        "id": record["vulnerability_id"],
        "shortDescription": {"text": str(record.get("title") or record["vulnerability_id"])},
        "fullDescription": {"text": str(record.get("description") or "")[:4000]},
        "defaultConfiguration": {"level": sarif_level(str(record.get("severity")))},
        "properties": {"tags": ["security", str(record.get("kind") or "vulnerability")]},
    }
    if record.get("cvss_score") is not None:
        rule["properties"]["security-severity"] = f"{float(record['cvss_score']):.1f}"
    if references:
        rule["helpUri"] = references[0]
    return rule


def sarif_chunks(
    records: Iterable[Record], *, tool_version: str, information_uri: str | None = None
) -> Iterator[str]:
    """A SARIF 2.1.0 log with one run. Results are streamed first; the rules they
    reference (one per vulnerability id, bounded by distinct ids) follow in `tool`."""
    yield (f'{{"$schema": "{SARIF_SCHEMA}", "version": "2.1.0", "runs": [{{"results": [')
    rules: dict[str, int] = {}
    rule_bodies: list[dict[str, Any]] = []
    first = True
    for batch in _batched(records):
        parts = []
        for record in batch:
            rule_id = str(record["vulnerability_id"])
            if rule_id not in rules:
                rules[rule_id] = len(rule_bodies)
                rule_bodies.append(_rule(record))
            parts.append(json.dumps(_result(record, rules[rule_id]), default=str))
        yield ("" if first else ", ") + ", ".join(parts)
        first = False
    driver: dict[str, Any] = {"name": "vulntrail", "version": tool_version, "rules": rule_bodies}
    if information_uri:
        driver["informationUri"] = information_uri
    yield '], "tool": ' + json.dumps({"driver": driver}) + "}]}\n"
