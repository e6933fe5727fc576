"""What people and CI read from a store holding a fleet's year of builds.

Each endpoint is called ≥ 200 times over varied products, runs and CVEs (after a short
warm-up); p95 of the server's own time (`Server-Timing: app`) is checked against the
target, and the client's wall time is reported next to it.
"""

from __future__ import annotations

import random
import time
from typing import Any

import httpx

from bench.harness import Context, Result, log, percentile, query, server_timing, summary_ms
from bench.server import Server
from bench.store_builder import WEB_USER, StoreSpec, ensure_reader, ensure_store

# The pages people use, and the JSON answers that hold the same data (used when the web
# pages are not installed). One place to switch.
PAGES = {
    "findings list (API)": "/api/v2/findings/?product_name={product_name}&active=true&limit=100",
    "engagement page": "/engagements/{engagement_id}",
    "product page": "/products/{product_id}",
    "CVE search, all products": "/search?q={cve}",
}
JSON_EQUIVALENTS = {
    "engagement page": "/api/v2/engagements/{engagement_id}/findings/",
    "product page": "/api/v2/products/{product_id}/",
    "CVE search, all products": "/api/v2/vulnerabilities/{cve}/",
}
TARGET_MS = 50.0
REQUESTS = 240  # per endpoint
WARMUP = 5
BUDGET_S = 60.0  # per endpoint: a page far over its target stops early (and fails)
FULL = StoreSpec(products=100, runs=12, mean_findings=1_750, share=0.08)
QUICK = StoreSpec(products=10, runs=6, mean_findings=400, share=0.08)


def run(ctx: Context) -> list[Result]:
    spec = QUICK if ctx.quick else FULL
    path, manifest = ensure_store(spec, rebuild=ctx.rebuild_store)
    url = f"sqlite:///{path}"
    samples = _samples(url, 50 if ctx.quick else REQUESTS)
    budget = 20.0 if ctx.quick else BUDGET_S
    out = [_store_row(manifest, spec)]
    with Server(url) as server, server.client(timeout=60) as client:
        ensure_reader(client)
        _login(client)
        for name, pattern in PAGES.items():
            pattern, note = _route(client, name, pattern, samples[0])
            _check(client, pattern, samples[0])
            out.append(_measure(client, name + note, pattern, samples, budget, ctx.quick))
    return out


def _measure(
    client: httpx.Client,
    name: str,
    pattern: str,
    samples: list[dict[str, Any]],
    budget: float,
    quick: bool,
) -> Result:
    for params in samples[:WARMUP]:  # not counted
        client.get(pattern.format(**params))
    app_ms: list[float] = []
    wall_ms: list[float] = []
    deadline = time.perf_counter() + budget
    for params in samples:
        if time.perf_counter() > deadline:
            break
        started = time.perf_counter()
        response = client.get(pattern.format(**params))
        wall_ms.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            url = pattern.format(**params)
            raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")
        app_ms.append(server_timing(response)["app"])
    p95 = percentile(app_ms, 95)
    stopped = f" (stopped at the {budget:.0f} s budget)" if len(app_ms) < len(samples) else ""
    log(f"read {name}: server {summary_ms(app_ms)} wall {summary_ms(wall_ms)}{stopped}")
    return Result(
        scenario=f"{name}: p95",
        database="sqlite",
        figure=f"{p95:.1f} ms server (p50 {percentile(app_ms, 50):.1f})",
        reference=f"wall p95 {percentile(wall_ms, 95):.1f} ms, n={len(app_ms)}{stopped}",
        value=round(p95, 2),
        target=f"≤ {TARGET_MS:g} ms" + ("" if quick else ", n ≥ 200"),
        passed=p95 <= TARGET_MS and (quick or len(app_ms) >= 200),
        details={"url": pattern, "server_ms": summary_ms(app_ms), "wall_ms": summary_ms(wall_ms)},
    )


def _store_row(manifest: dict[str, Any], spec: StoreSpec) -> Result:
    runs, distinct = manifest["finding_runs"], manifest["distinct_findings"]
    big = spec.products >= 100
    return Result(
        scenario=f"store: {manifest['products']} products x {spec.runs} builds",
        database="sqlite",
        figure=f"{runs:,} finding-runs, {distinct:,} findings",
        reference=f"built in {manifest['build_s']:.0f} s via HTTP, {manifest['db_mb']} MB",
        value=runs,
        target="≥ 2,000,000 / ≥ 200,000" if big else "(quick: small store)",
        passed=(runs >= 2_000_000 and distinct >= 200_000) if big else None,
        details=manifest,
    )


def _samples(url: str, count: int) -> list[dict[str, Any]]:
    """Varied parameters: every product, old and newest runs, common and rare CVEs."""
    rng = random.Random(11)
    products = query(url, "SELECT id, name FROM products ORDER BY id")
    engagements = [row[0] for row in query(url, "SELECT id FROM engagements WHERE has_runs")]
    common = [
        row[0]
        for row in query(
            url, "SELECT rule_id FROM findings GROUP BY rule_id HAVING COUNT(*) > 10 LIMIT 500"
        )
    ]
    rare = [
        row[0]
        for row in query(
            url, "SELECT rule_id FROM findings GROUP BY rule_id HAVING COUNT(*) = 1 LIMIT 500"
        )
    ]
    out = []
    for n in range(count):
        product_id, product_name = products[n % len(products)]
        out.append(
            {
                "product_id": product_id,
                "product_name": product_name,
                "engagement_id": rng.choice(engagements),
                "cve": rng.choice(common if n % 2 == 0 and common else rare or common),
            }
        )
    return out


def _check(client: httpx.Client, pattern: str, params: dict[str, Any]) -> None:
    """Guard against timing an empty answer: the page must show what was asked for."""
    expected = {"cve": params["cve"], "product_name": params["product_name"]}
    body = client.get(pattern.format(**params)).text
    key = "cve" if "{cve}" in pattern else "product_name"
    if "{engagement_id}" in pattern:
        expected[key] = "CVE-"
    if expected[key] not in body:
        raise RuntimeError(f"{pattern.format(**params)} does not show {expected[key]!r}")


def _login(client: httpx.Client) -> None:
    page = client.get("/login")
    csrf = client.cookies.get("vulntrail_login_csrf")
    if page.status_code == 404 or csrf is None:
        return  # no web pages: the JSON equivalents are used
    response = client.post(
        "/login",
        data={
            "username": WEB_USER[0],
            "password": WEB_USER[1],
            "csrf_token": csrf,
            "next": "/products",
        },
    )
    if response.status_code != 303:
        raise RuntimeError(f"web login failed: {response.status_code} {response.text[:200]}")


def _route(
    client: httpx.Client, name: str, pattern: str, params: dict[str, Any]
) -> tuple[str, str]:
    """The page, or its JSON equivalent when the page is not there (said in the name)."""
    if name not in JSON_EQUIVALENTS:
        return pattern, ""
    response = client.get(pattern.format(**params))
    if response.status_code == 200 and response.headers.get("content-type", "").startswith(
        "text/html"
    ):
        return pattern, ""
    return JSON_EQUIVALENTS[name], " [JSON: page missing]"
