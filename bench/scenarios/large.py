"""A 50,000-finding report: it imports, and the server's peak memory stays bounded.

The server runs with one worker, so its process is the one that imports; its peak
resident size (VmHWM) is read after the import and compared with the size of the file
plus the RSS of the idle server (after a small warm-up import).
"""

from __future__ import annotations

import json

from bench import generator
from bench.harness import Context, Result, best_of, database, log, post_import
from bench.server import Server, memory_kb

FACTOR = 5  # peak ≤ FACTOR x file + idle


def run(ctx: Context) -> list[Result]:
    size = 10_000 if ctx.quick else 50_000
    renderer = generator.Renderer()
    body = renderer.report(generator.initial_items(size), tag="big")
    warmup = renderer.report(generator.initial_items(200, seed=9), tag="warmup")
    with (
        database("sqlite", ctx.workdir, "large") as url,
        Server(url) as server,
        server.client() as client,
    ):
        post_import(client, warmup, "bench-warmup", "CI-main-1")
        idle_kb = memory_kb(server.pid)["VmRSS"]
        wall, timing, answer = post_import(client, body, "bench-large", "CI-main-1")
        peak_kb = memory_kb(server.pid)["VmHWM"]
    assert answer["statistics"]["after"]["total"]["total"] == size
    loads = best_of(lambda: json.loads(body), 2)
    file_mb, idle_mb, peak_mb = len(body) / 1e6, idle_kb * 1024 / 1e6, peak_kb * 1024 / 1e6
    limit_mb = FACTOR * file_mb + idle_mb
    log(
        f"large: {size} findings, {file_mb:.0f} MB, {wall:.1f}s, idle {idle_mb:.0f} MB, peak {peak_mb:.0f} MB {timing}"
    )
    return [
        Result(
            scenario=f"{size:,}-finding report: server peak RSS",
            database="sqlite",
            figure=f"{peak_mb:,.0f} MB peak",
            reference=f"file {file_mb:.0f} MB + idle {idle_mb:.0f} MB",
            value=round((peak_mb - idle_mb) / file_mb, 2),
            target=f"≤ {FACTOR}x file + idle ({limit_mb:,.0f} MB)",
            passed=peak_mb <= limit_mb,
            details={"peak_over_idle_per_file_byte": round((peak_mb - idle_mb) / file_mb, 2)},
        ),
        Result(
            scenario=f"{size:,}-finding report: import time",
            database="sqlite",
            figure=f"{wall:.2f} s",
            reference=f"json.loads {loads:.2f} s",
            value=round(wall / loads, 2),
            target="works (201)",
            passed=True,
            details={"server_timing_ms": timing, "ratio_to_json_loads": round(wall / loads, 2)},
        ),
    ]
