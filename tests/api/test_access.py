"""Every API route against every kind of caller: exactly the allowed or refused answer.

Callers: anonymous; reader, writer and maintainer granted on `orchestrator-*`; an
importer *token* scoped to `orchestrator-*` (its user has no grant of its own); admin.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from access_support import make_token

from reports import Report, Vuln, import_scan

_SUFFIX = itertools.count(1)
CALLERS = ("anonymous", "reader", "writer", "importer", "maintainer", "admin")
A = Vuln("CVE-2024-4242", "openssl", "3.0.1", severity="CRITICAL")


@dataclass
class World:
    ids: dict[str, int]
    clients: dict[str, Any]


@pytest.fixture
def world(live_server, api) -> World:
    own = import_scan(
        api, Report("app:1", [A]).to_json(), product="orchestrator-server", engagement="CI-main-1"
    ).json()
    other = import_scan(
        api, Report("pay:1", [A]).to_json(), product="billing-api", engagement="CI-main-1"
    ).json()
    finding = {
        p: api.get("/api/v2/findings/", params={"product_name": p}).json()["results"][0]["id"]
        for p in ("orchestrator-server", "billing-api")
    }
    url = live_server.database_url
    secrets = {
        "reader": make_token(url, "rita", role="reader"),
        "writer": make_token(url, "walt", role="writer"),
        "importer": make_token(url, "ci-bot", role="importer", scoped_token=True),
        "maintainer": make_token(url, "mia", role="maintainer"),
    }
    clients = {"anonymous": live_server.client(token=None), "admin": live_server.client()}
    clients.update({name: live_server.client(token=secret) for name, secret in secrets.items()})
    ids = {
        "own_product": own["product_id"],
        "other_product": other["product_id"],
        "own_engagement": own["engagement_id"],
        "other_engagement": other["engagement_id"],
        "own_test": own["test"],
        "other_test": other["test"],
        "own_finding": finding["orchestrator-server"],
        "other_finding": finding["billing-api"],
    }
    yield World(ids, clients)
    for client in clients.values():
        client.close()


def _import(product: str) -> Callable[[Any, dict[str, int]], Any]:
    def call(client: Any, ids: dict[str, int]) -> Any:
        return import_scan(
            client, Report("x:2", [A]).to_json(), product=product, engagement="CI-main-2"
        )

    return call


def _get(path: str) -> Callable[[Any, dict[str, int]], Any]:
    return lambda client, ids: client.get(path.format(**ids))


def _send(method: str, path: str, body: dict[str, Any]) -> Callable[[Any, dict[str, int]], Any]:
    def call(client: Any, ids: dict[str, int]) -> Any:
        filled = {
            k: ids[v[1:-1]] if isinstance(v, str) and v.startswith("{") else v
            for k, v in body.items()
        }
        if "name" in filled or "username" in filled:  # each caller creates its own object
            key = "name" if "name" in filled else "username"
            filled[key] = f"{filled[key]}-{next(_SUFFIX)}"
        return client.request(method, path.format(**ids), json=filled)

    return call


OK, NO, HIDDEN, ANON = 200, 403, 404, 401
# route → expected status for anonymous, reader, writer, importer, maintainer, admin
TABLE: list[tuple[str, Callable[[Any, dict[str, int]], Any], tuple[int, ...]]] = [
    ("list products", _get("/api/v2/products/"), (ANON, OK, OK, OK, OK, OK)),
    ("own product", _get("/api/v2/products/{own_product}/"), (ANON, OK, OK, OK, OK, OK)),
    (
        "other product",
        _get("/api/v2/products/{other_product}/"),
        (ANON, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    ("own engagement", _get("/api/v2/engagements/{own_engagement}/"), (ANON, OK, OK, OK, OK, OK)),
    (
        "other engagement",
        _get("/api/v2/engagements/{other_engagement}/"),
        (ANON, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    (
        "other run findings",
        _get("/api/v2/engagements/{other_engagement}/findings/"),
        (ANON, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    (
        "other run diff",
        _get("/api/v2/engagements/{other_engagement}/diff/"),
        (ANON, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    ("own test", _get("/api/v2/tests/{own_test}/"), (ANON, OK, OK, OK, OK, OK)),
    ("other test", _get("/api/v2/tests/{other_test}/"), (ANON, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK)),
    ("own finding", _get("/api/v2/findings/{own_finding}/"), (ANON, OK, OK, OK, OK, OK)),
    (
        "other finding",
        _get("/api/v2/findings/{other_finding}/"),
        (ANON, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    (
        "other finding history",
        _get("/api/v2/findings/{other_finding}/history/"),
        (ANON, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    (
        "triage own finding",
        _send("PATCH", "/api/v2/findings/{own_finding}/", {"false_p": True}),
        (ANON, NO, OK, NO, OK, OK),
    ),
    (
        "triage other finding",
        _send("PATCH", "/api/v2/findings/{other_finding}/", {"false_p": True}),
        (ANON, HIDDEN, HIDDEN, HIDDEN, HIDDEN, OK),
    ),
    ("import into own product", _import("orchestrator-server"), (ANON, NO, NO, 201, 201, 201)),
    (
        "import creating a product in scope",
        _import("orchestrator-new"),
        (ANON, NO, NO, 201, 201, 201),
    ),
    ("import into other product", _import("billing-api"), (ANON, NO, NO, NO, NO, 201)),
    (
        "create engagement",
        _send("POST", "/api/v2/engagements/", {"name": "CI-main-9", "product": "{own_product}"}),
        (ANON, NO, NO, 201, 201, 201),
    ),
    (
        "product settings",
        _send("PATCH", "/api/v2/products/{own_product}/", {"description": "x"}),
        (ANON, NO, NO, NO, OK, OK),
    ),
    (
        "create product in scope",
        _send("POST", "/api/v2/products/", {"name": "orchestrator-cli", "prod_type": 1}),
        (ANON, NO, NO, 201, 201, 201),
    ),
    (
        "create product out of scope",
        _send("POST", "/api/v2/products/", {"name": "billing-ui", "prod_type": 1}),
        (ANON, NO, NO, NO, NO, 201),
    ),
    ("audit log", _get("/api/v2/audit/"), (ANON, NO, NO, NO, NO, OK)),
    ("users", _get("/api/v2/users/"), (ANON, NO, NO, NO, NO, OK)),
    (
        "create user",
        _send("POST", "/api/v2/users/", {"username": "eve"}),
        (ANON, NO, NO, NO, NO, 201),
    ),
    ("own tokens", _get("/api/v2/tokens/"), (ANON, OK, OK, OK, OK, OK)),
]


@pytest.mark.parametrize("route", [row[0] for row in TABLE])
def test_every_route_answers_each_caller_exactly(world, route):
    _, call, expected = next(row for row in TABLE if row[0] == route)
    got = [call(world.clients[caller], world.ids).status_code for caller in CALLERS]
    assert tuple(got) == expected, dict(zip(CALLERS, got, strict=True))


def test_scoped_callers_never_see_other_products_in_lists(world):
    for caller in ("reader", "writer", "importer", "maintainer"):
        client = world.clients[caller]
        assert [p["name"] for p in client.get("/api/v2/products/").json()["results"]] == [
            "orchestrator-server"
        ]
        assert (
            client.get("/api/v2/findings/", params={"product_name": "billing-api"}).json()["count"]
            == 0
        )
        assert (
            client.get("/api/v2/engagements/", params={"product_name": "billing-api"}).json()[
                "count"
            ]
            == 0
        )
        assert client.get("/api/v2/tests/").json()["count"] == 1
        body = client.get("/api/v2/vulnerabilities/CVE-2024-4242/").json()
        assert [p["product_name"] for p in body["products"]] == ["orchestrator-server"]
    assert world.clients["admin"].get("/api/v2/products/").json()["count"] == 2


def test_a_scoped_token_cannot_mint_a_wider_one(world):
    importer = world.clients["importer"]
    assert (
        importer.post("/api/v2/tokens/", json={"role": "maintainer", "products": "*"}).status_code
        == 403
    )
    narrower = importer.post(
        "/api/v2/tokens/",
        json={"name": "child", "products": "orchestrator-server", "role": "importer"},
    )
    assert narrower.status_code == 201
    child = narrower.json()
    assert child["token"].startswith("vtr_") and child["role"] == "importer"
    assert importer.get("/api/v2/tokens/").json()["count"] == 2
    assert "token" not in importer.get("/api/v2/tokens/").json()["results"][0]


def test_audit_log_records_imports_and_triage_with_who(world):
    writer = world.clients["writer"]
    writer.patch(f"/api/v2/findings/{world.ids['own_finding']}/", json={"out_of_scope": True})
    events = world.clients["admin"].get("/api/v2/audit/").json()["results"]
    actions = [(e["actor"], e["action"]) for e in events]
    assert ("walt", "triage") in actions
    assert ("admin", "import") in actions


def test_token_guessing_is_rate_limited(live_server):
    with live_server.client(token="vtr_guess") as guesser:
        codes = [guesser.get("/api/v2/products/").status_code for _ in range(21)]
        assert codes[:20] == [401] * 20 and codes[20] == 429
        assert int(guesser.get("/api/v2/products/").headers["Retry-After"]) >= 1
    with live_server.client() as rightful:  # same address: refused until the window passes
        assert rightful.get("/api/v2/products/").status_code == 429
