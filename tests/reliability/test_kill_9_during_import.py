"""Issue #8 part 2: kill -9 of the server at random points of large imports.

Each round posts a report that adds and resolves thousands of findings, kills the
whole server process group with SIGKILL after a random delay spread over the
import's measured duration (receive, parse and the write transaction), restarts
the server and checks that the store is either exactly as before the import or
exactly as the completed import leaves it — never in between — and that posting
the same report again succeeds (and, if the import had committed, changes
nothing).
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from reliability_support import (
    Tally,
    compact_report,
    count_rows,
    duplicate_identities,
    post_import,
    scaled,
    store_state,
)

from conftest import ServerProcess

SIZE = 2000  # findings per report; each round brings SIZE // 2 new ones and resolves as many
ROUNDS = {"sqlite": scaled(20, 100), "postgresql": scaled(4, 40)}
SEED = int(os.environ.get("VULNTRAIL_KILL_SEED", "8"))
# The audit log records every accepted import call, a replayed one too.
AUDIT = ("audit_events",)


def _round_report(round_: int) -> bytes:
    return compact_report(SIZE, start=round_ * SIZE // 2, tag=str(round_), version=round_ % 3)


def _post_in_background(server: ServerProcess, body: bytes, engagement: str) -> dict[str, object]:
    outcome: dict[str, object] = {}

    def post() -> None:
        try:
            with server.client() as client:
                outcome["status"] = post_import(
                    client, body, engagement_name=engagement
                ).status_code
        except httpx.HTTPError as error:
            outcome["error"] = type(error).__name__

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    outcome["thread"] = thread
    return outcome


def _phases(response: httpx.Response) -> dict[str, float]:
    """Server-Timing of an import in seconds: receive, parse, store."""
    out = {}
    for part in response.headers.get("server-timing", "").split(","):
        name, _, duration = part.strip().partition(";dur=")
        if duration:
            out[name] = float(duration) / 1000
    return out


def test_kill_9_at_random_points_of_imports_never_leaves_half_an_import(database_url: str) -> None:
    """The server that answers the retry is the next process, started while the killed one
    was importing (its start-up, ~2 s, overlaps the round instead of adding to it)."""
    engine = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    rounds = ROUNDS[engine]
    rng = random.Random(SEED)
    tally = Tally(f"kill -9 [{engine}] seed={SEED}")
    starter = ThreadPoolExecutor(max_workers=1)
    server = ServerProcess(database_url).start()
    spare = starter.submit(lambda: ServerProcess(database_url).start())
    try:
        with server.client() as client:
            first = post_import(client, _round_report(0), engagement_name="CI-main-0")
        assert first.status_code == 201, first.text
        # Where the write transaction starts and ends, seen from the client's side.
        store_starts, total = _window(first)
        before = store_state(database_url)
        for round_ in range(1, rounds + 1):
            body = _round_report(round_)
            engagement = f"CI-main-{round_}"
            outcome = _post_in_background(server, body, engagement)
            delay = rng.uniform(0.0, total * 1.15 + 0.05)
            time.sleep(delay)
            server.kill()
            thread = outcome["thread"]
            assert isinstance(thread, threading.Thread)
            thread.join(timeout=60)
            tally.add("kills")
            after = store_state(database_url)
            server = spare.result()
            spare = starter.submit(lambda: ServerProcess(database_url).start())
            with server.client() as client:
                retry = post_import(client, body, engagement_name=engagement)
            assert retry.status_code == 201, f"round {round_}: retry answered {retry.text[:300]}"
            settled = store_state(database_url)
            if after == before:
                tally.add("rolled back")
                tally.add(
                    "killed in the write transaction"
                    if delay > store_starts
                    else "killed before it"
                )
                store_starts, total = _window(retry)
            else:
                # Committed before the kill: the retry was a replay and changed no trail row.
                assert _without_audit(after) == _without_audit(settled), (
                    f"round {round_}: killed after {delay:.3f}s, the store holds a half-done import"
                )
                assert outcome.get("status") in (201, None), outcome
                tally.add("had committed")
            assert count_rows(database_url, "tests") == round_ + 1
            assert duplicate_identities(database_url) == 0
            before = settled
    finally:
        server.stop()
        spare.result().stop()
        starter.shutdown()
    tally.report()
    assert tally.counts["kills"] == rounds


def _window(response: httpx.Response) -> tuple[float, float]:
    """Seconds from sending to the start and to the end of the write transaction."""
    phases = _phases(response)
    starts = phases.get("receive", 0.0) + phases.get("parse", 0.0)
    return starts, starts + phases.get("store", 0.5)


def _without_audit(state: dict[str, list[str]]) -> dict[str, list[str]]:
    return {table: rows for table, rows in state.items() if table not in AUDIT}


@pytest.mark.parametrize("signal_name", ["SIGKILL", "SIGTERM"])
def test_every_import_answered_201_survives_a_restart(database_url: str, signal_name: str) -> None:
    """Imports answered 201 are durable: after kill -9 (or a graceful stop) in the middle
    of concurrent imports, each of them is in the restarted store with all its findings;
    the ones cut off are either whole or absent, and posting them again completes them."""
    server = ServerProcess(database_url).start()
    jobs = [
        (f"svc-{n % 3}", f"CI-main-{n}", compact_report(800, start=n * 300, tag=str(n)))
        for n in range(6)
    ]
    answered: dict[int, int] = {}
    try:

        def post(index: int) -> None:
            product, engagement, body = jobs[index]
            try:
                with server.client() as client:
                    response = post_import(
                        client, body, product_name=product, engagement_name=engagement
                    )
                if response.status_code == 201:
                    answered[index] = int(response.json()["test_id"])
            except httpx.HTTPError:
                pass

        threads = [threading.Thread(target=post, args=(n,), daemon=True) for n in range(len(jobs))]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 120
        while len(answered) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        if signal_name == "SIGKILL":
            server.kill()
        else:
            server.stop()
        for thread in threads:
            thread.join(timeout=120)
        assert answered, "no import finished before the stop"
        server = ServerProcess(database_url).start()
        with server.client() as client:
            for index, test_id in answered.items():
                test = client.get(f"/api/v2/tests/{test_id}/")
                assert test.status_code == 200, f"accepted import {index} (test {test_id}) was lost"
                assert test.json()["finding_count"] == 800
            for product, engagement, body in jobs:
                retry = post_import(client, body, product_name=product, engagement_name=engagement)
                assert retry.status_code == 201, retry.text[:300]
        assert count_rows(database_url, "tests") == len(jobs)
        assert duplicate_identities(database_url) == 0
    finally:
        server.stop()
    print(
        f"\n[reliability] restart [{signal_name}]: {len(answered)} of {len(jobs)} answered 201 before the stop"
    )
