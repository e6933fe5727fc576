"""Products, engagements and tests as DefectDojo's v2 API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from vulntrail import clock
from vulntrail.store.models import Engagement, Product, ProductType, Scan

TEST_TYPES = (
    {"id": 1, "name": "Trivy Scan", "static_tool": True, "dynamic_tool": False, "active": True},
)


def iso(value: datetime | None) -> str | None:
    return clock.aware(value).isoformat() if value is not None else None


def product_type_json(row: ProductType) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "critical_product": False,
        "key_product": False,
        "created": iso(row.created),
    }


def product_json(row: Product) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "description": row.description,
        "prod_type": row.prod_type_id,
        "default_branch": row.default_branch,
        "created": iso(row.created),
        "updated": iso(row.updated),
        "tags": [],
    }


def engagement_json(row: Engagement) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "product": row.product_id,
        "branch_tag": row.branch_tag or row.branch,
        "branch": row.branch,
        "commit_hash": row.commit_hash,
        "build_id": row.build_id,
        "version": row.version,
        "description": row.description,
        "status": row.status,
        "engagement_type": row.engagement_type,
        "active": row.status not in ("Completed", "Cancelled"),
        "target_start": row.target_start.isoformat(),
        "target_end": row.target_end.isoformat(),
        "tags": row.tags,
        "pipeline_id": row.pipeline_id,
        "run_at": iso(row.run_at),
        "has_runs": row.has_runs,
        "created": iso(row.created),
        "updated": iso(row.updated),
        "source_code_management_uri": row.source_code_management_uri or None,
    }


def test_json(row: Scan) -> dict[str, Any]:
    test_type = next((t["id"] for t in TEST_TYPES if t["name"] == row.scan_type), None)
    return {
        "id": row.id,
        "engagement": row.engagement_id,
        "title": row.title,
        "scan_type": row.scan_type,
        "test_type": test_type,
        "test_type_name": row.scan_type,
        "version": row.version,
        "build_id": row.build_id,
        "commit_hash": row.commit_hash,
        "branch_tag": row.branch_tag,
        "tags": row.tags,
        "finding_count": row.finding_count,
        "artifact_name": row.artifact_name,
        "scanner_version": row.scanner_version,
        "report_format": row.report_format or None,
        "statistics": row.statistics or None,
        "target_start": iso(row.created),
        "target_end": iso(row.updated),
        "percent_complete": 100 if row.report_id is not None else 0,
        "created": iso(row.created),
        "updated": iso(row.updated),
    }
