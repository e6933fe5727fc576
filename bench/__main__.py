"""Benchmarks, each figure a ratio to a reference measured in the same run.

    python -m bench [--findings 10000] [--databases sqlite,postgresql]

Scenarios: first import of an N-finding report through the HTTP API, and the next
pipeline run's unchanged import (new image tag, same findings), each against the
time of `json.loads` of the same bytes; rows the unchanged import added.
Results: a table on stdout and bench/results/latest.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg

from bench import generator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import PG_ADMIN_URL, TOKEN, ServerProcess  # noqa: E402
from dbstate import row_counts  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def best_of(action, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def post(
    client: httpx.Client, body: bytes, engagement: str, *, product: str
) -> tuple[float, dict[str, Any]]:
    start = time.perf_counter()
    response = client.post(
        "/api/v2/import-scan/",
        data={
            "scan_type": "Trivy Scan",
            "product_name": product,
            "engagement_name": engagement,
            "auto_create_context": "true",
            "branch_tag": "main",
        },
        files={"file": ("trivy.json", body, "application/json")},
    )
    elapsed = time.perf_counter() - start
    if response.status_code != 201:
        raise RuntimeError(f"import failed: {response.status_code} {response.text[:300]}")
    print(
        f"    {engagement}: {elapsed:.3f}s  server {response.headers.get('server-timing')}",
        file=sys.stderr,
    )
    return elapsed, response.json()


def database(kind: str, workdir: Path) -> tuple[str, Any]:
    if kind == "sqlite":
        return f"sqlite:///{workdir / 'bench.db'}", None
    name = f"vt_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)

    def drop() -> None:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return f"{base}/{name}", drop


def import_scenarios(kind: str, size: int, repeat: int = 3) -> dict[str, Any]:
    """Best of `repeat`: first imports into fresh products, then unchanged next runs."""
    items = generator.initial_items(size)
    reports = [generator.report(items, tag=str(1000 + n)) for n in range(repeat + 1)]
    loads = best_of(lambda: json.loads(reports[0]))
    decode = best_of(lambda: msgspec.json.decode(reports[0]))
    first_times, again_times, rows_added = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        url, cleanup = database(kind, Path(tmp))
        server = ServerProcess(url).start()
        try:
            with httpx.Client(
                base_url=server.url, headers={"Authorization": f"Token {TOKEN}"}, timeout=600
            ) as client:
                for n in range(repeat):
                    elapsed, body = post(
                        client, reports[0], "CI-main-1000", product=f"bench-first-{n}"
                    )
                    assert body["statistics"]["after"]["total"]["total"] == size
                    first_times.append(elapsed)
                for n in range(1, repeat + 1):
                    before = row_counts(url)
                    elapsed, body = post(
                        client, reports[n], f"CI-main-{1000 + n}", product="bench-first-0"
                    )
                    after = row_counts(url)
                    assert body["statistics"]["delta"]["untouched"]["total"]["total"] == size
                    again_times.append(elapsed)
                    rows_added.append(
                        {t: after[t] - before[t] for t in after if after[t] != before[t]}
                    )
                loads = min(loads, best_of(lambda: json.loads(reports[0])))
        finally:
            server.stop()
            if cleanup:
                cleanup()
    first, again = min(first_times), min(again_times)
    return {
        "database": kind,
        "findings": size,
        "report_bytes": len(reports[0]),
        "json_loads_s": round(loads, 4),
        "msgspec_decode_s": round(decode, 4),
        "first_import_s": round(first, 3),
        "first_import_ratio": round(first / loads, 2),
        "unchanged_import_s": round(again, 3),
        "unchanged_import_ratio": round(again / loads, 2),
        "unchanged_rows_added": max(sum(r.values()) for r in rows_added),
        "unchanged_rows_by_table": rows_added[-1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--findings", type=int, default=10_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    rows = [import_scenarios(kind, args.findings) for kind in args.databases.split(",") if kind]
    header = f"{'db':<11}{'findings':>9}{'MB':>7}{'loads s':>9}{'import s':>10}{'x loads':>8}{'again s':>9}{'x loads':>8}{'rows':>6}"
    print(header)
    for row in rows:
        print(
            f"{row['database']:<11}{row['findings']:>9}{row['report_bytes'] / 1e6:>7.1f}{row['json_loads_s']:>9.3f}"
            f"{row['first_import_s']:>10.3f}{row['first_import_ratio']:>8.1f}{row['unchanged_import_s']:>9.3f}"
            f"{row['unchanged_import_ratio']:>8.1f}{row['unchanged_rows_added']:>6}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    payload = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "imports": rows,
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    (RESULTS / "latest.json").write_text(json.dumps(payload, indent=2) + "\n")


if __name__ == "__main__":
    main()
