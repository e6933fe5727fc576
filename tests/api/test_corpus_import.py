"""Every real Trivy report of the corpus imports through the API, with the counts it holds."""

from __future__ import annotations

import zstandard
from sqlalchemy import create_engine, text

from conftest import CORPUS
from reports import import_scan
from vulntrail.parsers.trivy import parse_trivy

FILES = sorted(CORPUS.glob("*.json"))


def test_the_corpus_is_there():
    assert len(FILES) >= 149


def test_every_corpus_report_imports_with_all_its_findings(api, live_server):
    for number, path in enumerate(FILES):
        expected = len(parse_trivy(path.read_bytes()).findings)
        response = import_scan(
            api,
            path.read_bytes(),
            product=f"corpus-{path.stem}",
            engagement=f"CI-main-{number + 1}",
        )
        assert response.status_code == 201, f"{path.name}: {response.text[:300]}"
        body = response.json()
        assert body["statistics"]["after"]["total"]["total"] == expected, path.name
        listed = api.get(
            "/api/v2/findings/",
            params={"product_name": f"corpus-{path.stem}", "active": "true", "limit": 1},
        ).json()
        assert listed["count"] == expected, path.name


def test_the_uploaded_file_is_kept_byte_for_byte(api, live_server):
    raw = (CORPUS / "scb_juice-shop-v12.10.2.json").read_bytes()
    test_id = import_scan(api, raw).json()["test"]
    engine = create_engine(live_server.database_url)
    with engine.connect() as conn:
        codec, data = conn.execute(
            text(
                "SELECT r.codec, r.data FROM reports r JOIN tests t ON t.report_id = r.id WHERE t.id = :id"
            ),
            {"id": test_id},
        ).one()
    engine.dispose()
    assert codec == "zstd"
    assert len(data) < len(raw) / 3
    assert zstandard.ZstdDecompressor().decompress(bytes(data)) == raw
