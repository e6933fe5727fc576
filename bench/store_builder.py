"""A store holding a fleet's year of builds, built through the real HTTP import path.

Every product is a Track of the generator: its first run, then one run per build with a
small share of churn (resolved, upgraded, re-scored, introduced, a few reopened). The runs
are posted in pipeline order by two client processes to a server with two workers, exactly
as CI posts them. The SQLite file is kept under bench/results/ (named after the spec) so
later runs reuse it; `--rebuild-store` builds it again.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import random
import time
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench import generator
from bench.harness import RESULTS, log, post_import, query
from bench.server import Server, client_for
from vulntrail.store.models import Base

WEB_USER = ("bench-reader", "bench-reader-password")
_ADJECTIVES = (
    "billing",
    "catalog",
    "checkout",
    "identity",
    "inventory",
    "ledger",
    "media",
    "notify",
    "orchestrator",
    "search",
)
_NOUNS = (
    "api",
    "gateway",
    "worker",
    "server",
    "scheduler",
    "indexer",
    "frontend",
    "exporter",
    "sync",
    "proxy",
)
FORMAT = 2  # bump when the generator or the build changes what ends up in the store


@dataclass(frozen=True)
class StoreSpec:
    """The fleet: `products` services, each `runs` builds of about `mean_findings` findings."""

    products: int = 100
    runs: int = 24
    mean_findings: int = 1_000
    share: float = 0.2
    first_day: date = date(2025, 12, 1)

    def key(self) -> str:
        """Changes with the spec, the build and the schema (a stale store is rebuilt)."""
        text = json.dumps(
            {**asdict(self), "format": FORMAT, "schema": schema_fingerprint()},
            default=str,
            sort_keys=True,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    def path(self) -> Path:
        return RESULTS / f"store-{self.key()}.db"

    def sizes(self) -> list[int]:
        """Findings in each product's first run: a long tail, as in a real fleet."""
        rng = random.Random(7)
        raw = [rng.lognormvariate(0, 0.8) for _ in range(self.products)]
        scale = self.mean_findings * self.products / sum(raw)
        return [max(50, round(value * scale)) for value in raw]

    def day(self, run: int) -> date:
        return self.first_day + timedelta(days=round(run * 365 / self.runs))


def schema_fingerprint() -> str:
    """Tables, columns and indexes of the models: the cached store must have them all."""
    parts = []
    for table in sorted(Base.metadata.tables.values(), key=lambda t: t.name):
        columns = [f"{c.name}:{c.type}:{c.nullable}" for c in table.columns]
        indexes = sorted(f"{i.name}:{[c.name for c in i.columns]}" for i in table.indexes)
        parts.append(f"{table.name}{columns}{indexes}")
    return hashlib.sha256("".join(parts).encode()).hexdigest()[:16]


def product_name(index: int) -> str:
    a, b = divmod(index, len(_NOUNS))
    suffix = f"-{a // len(_ADJECTIVES)}" if a >= len(_ADJECTIVES) else ""
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}-{_NOUNS[b]}{suffix}"


def ensure_store(spec: StoreSpec, *, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """The cached store file and its manifest (counts, build time), built when needed."""
    path = spec.path()
    manifest_path = path.with_suffix(".json")
    if path.exists() and manifest_path.exists() and not rebuild:
        log(f"store: reusing {path.name} (--rebuild-store to build it again)")
        return path, json.loads(manifest_path.read_text())
    _remove_stale(spec)
    building = path.with_suffix(".building.db")
    for old in RESULTS.glob(f"{building.name}*"):
        old.unlink()
    started = time.perf_counter()
    url = f"sqlite:///{building}"
    with Server(url, workers=2) as server:
        with server.client() as client:
            ensure_reader(client)
        jobs = [(server.url, spec, list(range(k, spec.products, 2))) for k in range(2)]
        with multiprocessing.get_context("fork").Pool(2) as pool:
            posted = sum(pool.starmap(_post_products, jobs))
    seconds = time.perf_counter() - started
    manifest = {
        "spec": asdict(spec),
        "build_s": round(seconds, 1),
        "imports": posted,
        **counts(url),
    }
    for suffix in ("-wal", "-shm"):
        Path(f"{building}{suffix}").unlink(missing_ok=True)
    building.rename(path)
    manifest["db_mb"] = round(path.stat().st_size / 1e6)
    manifest_path.write_text(json.dumps(manifest, indent=2, default=str) + "\n")
    log(f"store: built {path.name} in {seconds:.0f}s: {manifest}")
    return path, manifest


def _remove_stale(spec: StoreSpec) -> None:
    """Earlier stores of this spec (built for an older schema or build) and their manifests."""
    wanted = json.loads(json.dumps(asdict(spec), default=str))
    for manifest in RESULTS.glob("store-*.json"):
        try:
            same = json.loads(manifest.read_text()).get("spec") == wanted
        except ValueError:
            same = False
        if same or manifest.stem == spec.path().stem:
            for old in RESULTS.glob(f"{manifest.stem}.db*"):
                old.unlink()
            manifest.unlink()


def ensure_reader(client: httpx.Client) -> None:
    """The web user the read scenario logs in with: a reader of every product."""
    users = client.get("/api/v2/users/", params={"limit": 1000}).raise_for_status().json()
    user = next((u for u in users["results"] if u["username"] == WEB_USER[0]), None)
    if user is None:
        body = {"username": WEB_USER[0], "password": WEB_USER[1]}
        user = client.post("/api/v2/users/", json=body).raise_for_status().json()
        user["grants"] = []
    if not any(g["role"] == "reader" and g["products"] == "*" for g in user["grants"]):
        grant = {"role": "reader", "products": "*"}
        client.post(f"/api/v2/users/{user['id']}/grants/", json=grant).raise_for_status()


def _post_products(url: str, spec: StoreSpec, indices: list[int]) -> int:
    posted = 0
    sizes = spec.sizes()
    with client_for(url) as client:
        for index in indices:
            name = product_name(index)
            track = generator.Track(
                generator.fleet_items(index, sizes[index]), seed=index + 1, share=spec.share
            )
            renderer = generator.Renderer()
            started = time.perf_counter()
            for run in range(spec.runs):
                items = track.items if run == 0 else track.next_run()
                body = renderer.report(
                    items, image=f"registry.example.test/fleet/{name}", tag=f"1.{run}.0"
                )
                post_import(
                    client, body, name, f"CI-main-{1000 + run}", scan_date=spec.day(run).isoformat()
                )
                posted += 1
            log(
                f"store: {name} ({sizes[index]} findings, {spec.runs} runs) in {time.perf_counter() - started:.1f}s"
            )
    return posted


# Finding-runs: for every span, the runs of its track that it covers.
_FINDING_RUNS = """
SELECT COUNT(*) FROM spans s
JOIN engagements e ON e.track_id = s.track_id AND e.has_runs
 AND e.run_seq >= s.start_seq AND (s.end_seq IS NULL OR e.run_seq <= s.end_seq)
"""


def counts(url: str) -> dict[str, int]:
    def one(sql: str) -> int:
        return int(query(url, sql)[0][0])

    return {
        "products": one("SELECT COUNT(*) FROM products"),
        "engagements": one("SELECT COUNT(*) FROM engagements"),
        "distinct_findings": one("SELECT COUNT(*) FROM findings"),
        "occurrences": one("SELECT COUNT(*) FROM occurrences"),
        "spans": one("SELECT COUNT(*) FROM spans"),
        "finding_runs": one(_FINDING_RUNS),
        "active_findings": one("SELECT COUNT(*) FROM findings WHERE present"),
    }
