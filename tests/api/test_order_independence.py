"""Invariant 4: the runs of a track imported in any order give the same final state."""

from __future__ import annotations

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reports import Report, Vuln, findings, import_scan

POOL = [
    Vuln("CVE-2025-0001", "openssl", "3.0.1", severity="CRITICAL"),
    Vuln("CVE-2025-0002", "zlib", "1.2.13", severity="LOW"),
    Vuln("CVE-2025-0003", "curl", "8.0.0", severity="MEDIUM"),
    Vuln("CVE-2025-0004", "curl", "8.0.1", severity="HIGH"),  # curl upgraded in some runs
    Vuln("CVE-2025-0005", "bash", "5.2", severity="HIGH"),
]


def _state(api, product: str) -> list[tuple]:
    names = {
        e["id"]: e["name"]
        for e in api.get(
            "/api/v2/engagements/", params={"product_name": product, "limit": 100}
        ).json()["results"]
    }
    return sorted(
        (
            f["vulnerability_ids"][0]["vulnerability_id"],
            f["component_name"],
            f["component_version"],
            f["severity"],
            f["active"],
            f["is_mitigated"],
            f["reopen_count"],
            names.get(f["first_seen_engagement"]),
            names.get(f["last_seen_engagement"]),
            names.get(f["mitigated_engagement"]),
        )
        for f in findings(api, product_name=product)
    )


runs_strategy = st.lists(
    st.sets(st.integers(0, len(POOL) - 1), max_size=len(POOL)), min_size=1, max_size=6
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(runs=runs_strategy, seed=st.integers(0, 2**16))
def test_shuffled_arrival_gives_the_state_of_pipeline_order(api, runs, seed):
    tag = f"{seed}-{random.random():.12f}"
    reports = [
        Report(f"app:{n}", [POOL[i] for i in sorted(run)]).to_json() for n, run in enumerate(runs)
    ]
    order = list(range(len(runs)))
    random.Random(seed).shuffle(order)
    for product, sequence in ((f"in-order-{tag}", range(len(runs))), (f"shuffled-{tag}", order)):
        for n in sequence:
            response = import_scan(
                api, reports[n], product=product, engagement=f"CI-main-{100 + n}"
            )
            assert response.status_code == 201, response.text
    assert _state(api, f"shuffled-{tag}") == _state(api, f"in-order-{tag}")


def test_late_older_pipeline_does_not_reopen_what_a_newer_run_resolved(api):
    a, b = POOL[0], POOL[1]
    import_scan(api, Report("app:1", [a, b]).to_json(), engagement="CI-main-10")
    import_scan(api, Report("app:3", [a]).to_json(), engagement="CI-main-30")
    late = import_scan(api, Report("app:2", [a, b]).to_json(), engagement="CI-main-20")
    assert late.status_code == 201
    state = {
        f["vulnerability_ids"][0]["vulnerability_id"]: f
        for f in findings(api, product_name="orchestrator-server")
    }
    assert state[b.id]["active"] is False
    names = {e["id"]: e["name"] for e in api.get("/api/v2/engagements/").json()["results"]}
    assert names[state[b.id]["mitigated_engagement"]] == "CI-main-30"
    assert names[state[b.id]["last_seen_engagement"]] == "CI-main-20"
