"""Benchmarks of what users feel, each figure next to its reference measured in the same run.

    python -m bench [--quick] [--rebuild-store] [--only imports,large,...] [--databases sqlite,postgresql]

Scenarios (see bench/scenarios/): first and unchanged import of a 10,000-finding report
against `json.loads` of the same bytes; a 50,000-finding report and the server's peak
memory; 32 concurrent imports from separate processes on SQLite and PostgreSQL; read
latency on a store holding 100 products with a year of builds; py-spy flame graphs of the
import path. `--quick` runs everything small (under two minutes) for development: its
verdicts are about the small sizes, not the targets.

Results: a table on stdout, bench/results/latest.json (quick: quick.json), SVGs.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench import report
from bench.harness import Context, Result, log
from bench.scenarios import concurrent, imports, large, profile, reads
from bench.server import timing_built_in

SCENARIOS: dict[str, Callable[[Context], list[Result]]] = {
    "imports": imports.run,
    "large": large.run,
    "concurrent": concurrent.run,
    "reads": reads.run,
    "profile": profile.run,
}


def main() -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, under two minutes")
    parser.add_argument("--rebuild-store", action="store_true", help="build the read store again")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    chosen = [name for name in args.only.split(",") if name]
    unknown = set(chosen) - SCENARIOS.keys()
    if unknown:
        parser.error(f"unknown scenario(s) {sorted(unknown)}; choose from {list(SCENARIOS)}")
    started = time.perf_counter()
    if not timing_built_in():
        log(
            "server timing: api/app.py does not install vulntrail.api.timing yet; "
            "the bench wraps it around the app (python -m bench.server)"
        )
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="vulntrail-bench-") as tmp:
        context = Context(
            quick=args.quick,
            rebuild_store=args.rebuild_store,
            databases=tuple(kind for kind in args.databases.split(",") if kind),
            workdir=Path(tmp),
        )
        for name in chosen:
            log(f"== {name}")
            scenario_started = time.perf_counter()
            load = os.getloadavg()[0]
            produced = SCENARIOS[name](context)
            for result in produced:  # the machine is shared: say how busy it was
                result.details["load_average_1m_at_start"] = round(load, 2)
            results += produced
            log(f"== {name} done in {time.perf_counter() - scenario_started:.0f}s")
    seconds = time.perf_counter() - started
    mode = "quick" if args.quick else ("full" if chosen == list(SCENARIOS) else "partial")
    # latest.json is the full run of every scenario; anything else goes beside it.
    name = {"quick": "quick.json", "full": "latest.json", "partial": "partial.json"}[mode]
    path = report.save(results, mode=mode, seconds=seconds, name=name)
    print(report.text_table(results))
    print(
        f"\n{mode} run: {seconds / 60:.1f} min on {report.machine()['cpus']} cores; written to {path}"
    )
    return 0 if all(r.passed is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
