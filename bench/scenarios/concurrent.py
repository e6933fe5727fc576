"""32 import requests at once, from separate processes, to a server with 2 worker processes.

Eight products, four runs each (consecutive churned runs, posted all at the same moment
so they land in any order). Every request must answer 201; afterwards no identity may
have two findings, and each product must hold exactly the distinct findings of its runs.
"""

from __future__ import annotations

import multiprocessing
import time
from multiprocessing.synchronize import Barrier
from typing import Any

from bench import generator
from bench.harness import Context, Result, database, log, post_import, query
from bench.server import Server, client_for

_DUPLICATES = """
SELECT product_id, identity, COUNT(*) FROM findings
GROUP BY product_id, identity HAVING COUNT(*) > 1
"""
# Filled before the worker processes fork, so they share the bytes instead of copying them.
_JOBS: list[tuple[str, str, bytes]] = []


def run(ctx: Context) -> list[Result]:
    requests, products, size = (8, 4, 500) if ctx.quick else (32, 8, 1_000)
    expected = _prepare(requests, products, size)
    out = []
    for kind in ctx.databases:
        out.append(_scenario(ctx, kind, requests, size, expected))
    return out


def _prepare(requests: int, products: int, size: int) -> dict[str, int]:
    """The reports to post, and the distinct findings each product must end with."""
    _JOBS.clear()
    keys: dict[str, set[tuple[str, str, int]]] = {}
    per_product = requests // products
    for p in range(products):
        name = f"concurrent-{p}"
        track = generator.Track(generator.fleet_items(p, size), seed=p + 1, share=0.04)
        renderer = generator.Renderer()
        for run in range(per_product):
            items = track.items if run == 0 else track.next_run()
            keys.setdefault(name, set()).update((i.vuln_id, i.package, i.place) for i in items)
            body = renderer.report(items, image=f"registry.example.test/{name}", tag=str(run))
            _JOBS.append((name, f"CI-main-{2000 + run}", body))
    return {name: len(found) for name, found in keys.items()}


def _post(url: str, index: int, barrier: Barrier, results: Any) -> None:
    name, engagement, body = _JOBS[index]
    with client_for(url) as client:
        client.get("/healthz")  # connect before the start
        barrier.wait()
        try:
            wall, _timing, _ = post_import(client, body, name, engagement)
            results.put((index, "201", wall, time.time()))
        except Exception as error:
            results.put((index, str(error)[:200], 0.0, time.time()))


def _scenario(
    ctx: Context, kind: str, requests: int, size: int, expected: dict[str, int]
) -> Result:
    fork = multiprocessing.get_context("fork")
    with database(kind, ctx.workdir, "concurrent") as url, Server(url, workers=2) as server:
        barrier = fork.Barrier(requests + 1)
        results = fork.Queue()
        workers = [
            fork.Process(target=_post, args=(server.url, i, barrier, results))
            for i in range(requests)
        ]
        for worker in workers:
            worker.start()
        barrier.wait()
        started = time.time()
        answers = [results.get(timeout=900) for _ in workers]
        for worker in workers:
            worker.join()
        seconds = max(answer[3] for answer in answers) - started
        failures = [answer for answer in answers if answer[1] != "201"]
        duplicates = query(url, _DUPLICATES)
        stored = dict(
            query(
                url,
                "SELECT p.name, COUNT(*) FROM findings f JOIN products p ON p.id = f.product_id GROUP BY p.name",
            )
        )
    mismatched = {
        name: (stored.get(name), count)
        for name, count in expected.items()
        if stored.get(name) != count
    }
    throughput = requests * size / seconds
    log(
        f"{kind} concurrent: {requests} imports in {seconds:.1f}s, {throughput:.0f} findings/s, "
        f"failures {failures}, duplicates {len(duplicates)}, mismatched {mismatched}"
    )
    return Result(
        scenario=f"{requests} concurrent imports x {size:,} findings, 2 workers",
        database=kind,
        figure=f"{throughput:,.0f} findings/s",
        reference=f"{seconds:.1f} s wall; {len(failures)} failed, {len(duplicates)} duplicate findings",
        value=round(throughput),
        target="all 201, 0 duplicates",
        passed=not failures and not duplicates and not mismatched,
        details={
            "seconds": round(seconds, 2),
            "request_wall_s": sorted(round(answer[2], 2) for answer in answers),
            "failures": failures,
            "duplicates": len(duplicates),
            "findings_expected_vs_stored": {
                name: (count, stored.get(name)) for name, count in expected.items()
            },
        },
    )
