"""The targets API: admins manage global targets, maintainers their products' targets;
secrets are write-only and credential-bearing URLs are not shown back."""

from __future__ import annotations

from notify_support import SECRET, make_token, server

from reports import Report, import_scan

TARGETS = "/api/v2/notification_targets/"


def _webhook(**fields):
    return {
        "kind": "webhook",
        "url": "https://hooks.example.test/in?token=abc",
        "secret": SECRET,
        **fields,
    }


def test_targets_api_checks_who_may_manage_which_target(live_server, api):
    ids = {}
    for product in ("orchestrator-server", "billing-api"):
        body = import_scan(api, Report("x:1", []).to_json(), product=product).json()
        ids[product] = body["product_id"]
    own, other = ids["orchestrator-server"], ids["billing-api"]
    url = live_server.database_url
    maintainer = live_server.client(make_token(url, "mia", "maintainer", "orchestrator-*"))
    reader = live_server.client(make_token(url, "rita", "reader", "orchestrator-*"))
    anonymous = live_server.client(token=None)

    assert anonymous.get(TARGETS).status_code == 401
    assert reader.post(TARGETS, json=_webhook(product=own)).status_code == 403
    assert maintainer.post(TARGETS, json=_webhook(product=other)).status_code == 404
    assert maintainer.post(TARGETS, json=_webhook()).status_code == 403  # global: admins only
    mine = maintainer.post(TARGETS, json=_webhook(product=own, events=["finding.new"]))
    assert mine.status_code == 201, mine.text
    glob = api.post(
        TARGETS, json={"kind": "slack", "url": "https://hooks.slack.test/services/T1/B2/s3cr3t"}
    )
    theirs = api.post(TARGETS, json=_webhook(product=other))
    assert glob.status_code == theirs.status_code == 201

    assert mine.json()["url"] == "https://hooks.example.test/in"  # no query string
    assert glob.json()["url"] == "https://hooks.slack.test/…"  # the path is the credential
    assert mine.json()["has_secret"] is True and mine.json()["events"] == ["finding.new"]
    listings = {
        who: c.get(TARGETS)
        for who, c in (("admin", api), ("maintainer", maintainer), ("reader", reader))
    }
    assert [t["id"] for t in listings["maintainer"].json()["results"]] == [mine.json()["id"]]
    assert listings["reader"].json()["count"] == 0
    assert listings["admin"].json()["count"] == 3
    for response in (mine, glob, theirs, *listings.values()):
        assert (
            SECRET not in response.text
            and "s3cr3t" not in response.text
            and "token=abc" not in response.text
        )

    assert reader.get("/api/v2/outbox/").status_code == 403
    assert maintainer.get("/api/v2/outbox/").status_code == 403
    assert api.get("/api/v2/outbox/", params={"status": "pending"}).status_code == 200
    assert api.get("/api/v2/outbox/", params={"status": "lost"}).status_code == 400

    assert maintainer.delete(f"{TARGETS}{glob.json()['id']}/").status_code == 403
    assert maintainer.delete(f"{TARGETS}{theirs.json()['id']}/").status_code == 404
    assert maintainer.delete(f"{TARGETS}{mine.json()['id']}/").status_code == 204
    assert api.delete(f"{TARGETS}{glob.json()['id']}/").status_code == 204
    assert api.delete(f"{TARGETS}{glob.json()['id']}/").status_code == 404
    assert api.get(TARGETS).json()["count"] == 1
    for client in (maintainer, reader, anonymous):
        client.close()


def test_targets_api_refuses_targets_it_could_not_use(tmp_path):
    with server(f"sqlite:///{tmp_path / 'v.db'}") as live, live.client() as api:
        _refuses_unusable_targets(api)


def _refuses_unusable_targets(api):
    def refused(body, field):
        response = api.post(TARGETS, json=body)
        assert response.status_code == 400, response.text
        assert field in response.json(), response.json()

    refused(_webhook(secret=""), "secret")  # an unsigned webhook
    refused(_webhook(url="ftp://hooks.example.test/x"), "url")
    refused(_webhook(url="https:///no-host"), "url")
    refused(_webhook(events=["finding.gone"]), "events")
    refused(_webhook(kind="email"), "kind")
