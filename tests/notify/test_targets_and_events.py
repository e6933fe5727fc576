"""Who gets which event: product and global targets, event filters, chat formats, and the
once-only warnings of SLAs and risk acceptances that end soon."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from notify_support import add_target, outbox, receiver, server, wait_until

from reports import Report, Vuln, findings, import_scan

CRIT = Vuln("CVE-2024-0001", "openssl", "3.0.1", severity="CRITICAL", fixed="3.0.2")
HIGH = Vuln("CVE-2024-0002", "zlib", "1.2.13", severity="HIGH")
OTHER = Vuln("CVE-2024-0003", "curl", "8.0.0", severity="CRITICAL")


def _product_id(api, name: str) -> int:
    assert (
        import_scan(
            api, Report("empty:1", []).to_json(), product=name, engagement="CI-main-1"
        ).status_code
        == 201
    )
    return int(api.get("/api/v2/products/", params={"name": name}).json()["results"][0]["id"])


def test_product_targets_get_their_product_and_global_targets_every_product(tmp_path):
    with receiver() as hook, server(f"sqlite:///{tmp_path / 'v.db'}") as live, live.client() as api:
        orchestrator, billing = (
            _product_id(api, "orchestrator-server"),
            _product_id(api, "billing-api"),
        )
        everything = add_target(api, hook.url("/global"))["id"]
        own = add_target(
            api, hook.url("/orchestrator"), product=orchestrator, events=["finding.new"]
        )["id"]
        sla_only = add_target(
            api, hook.url("/billing"), product=billing, events=["sla.breach_soon"]
        )["id"]

        for product in ("orchestrator-server", "billing-api"):
            response = import_scan(
                api, Report("app:2", [CRIT]).to_json(), product=product, engagement="CI-main-2"
            )
            assert response.status_code == 201
        sent = {(m["target"], m["payload"]["product"]["name"]) for m in outbox(api)}
        assert sent == {
            (everything, "orchestrator-server"),
            (own, "orchestrator-server"),
            (everything, "billing-api"),
        }
        assert sla_only not in {target for target, _ in sent}
        paths = sorted(r.path for r in hook.wait_for(3))
        assert paths == ["/global", "/global", "/orchestrator"]


def test_slack_and_teams_targets_get_their_own_message_shapes(tmp_path):
    with receiver() as hook, server(f"sqlite:///{tmp_path / 'v.db'}") as live, live.client() as api:
        add_target(api, hook.url("/services/T000/B000/XXXX"), kind="slack")
        add_target(api, hook.url("/webhookb2/teams"), kind="teams")
        assert (
            import_scan(
                api, Report("app:1", [CRIT, HIGH]).to_json(), engagement="CI-main-7"
            ).status_code
            == 201
        )
        got = {r.path: r for r in hook.wait_for(2)}

        slack = got["/services/T000/B000/XXXX"]
        assert "x-vulntrail-signature" not in slack.headers
        body = slack.json()
        assert set(body) == {"text", "blocks"}
        assert "orchestrator-server" in body["text"] and "CI-main-7" in body["text"]
        assert [b["type"] for b in body["blocks"]] == ["header", "section", "section"]
        assert body["blocks"][0]["text"]["type"] == "plain_text"
        assert {"type": "mrkdwn", "text": "*Run*\nCI-main-7"} in body["blocks"][1]["fields"]
        lines = body["blocks"][2]["text"]["text"].splitlines()
        assert lines == [
            "[Critical] CVE-2024-0001 in openssl 3.0.1 (fixed in 3.0.2): openssl: issue CVE-2024-0001",
            "[High] CVE-2024-0002 in zlib 1.2.13: zlib: issue CVE-2024-0002",
        ]

        teams = got["/webhookb2/teams"].json()
        assert teams["type"] == "message"
        [attachment] = teams["attachments"]
        assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
        card = attachment["content"]
        assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
        assert (
            card["body"][0]["type"] == "TextBlock"
            and "orchestrator-server" in card["body"][0]["text"]
        )
        facts = {f["title"]: f["value"] for f in card["body"][1]["facts"]}
        assert facts == {"Product": "orchestrator-server", "Run": "CI-main-7", "Branch": "main"}
        assert [b["text"][:25] for b in card["body"][2:]] == [
            "[Critical] CVE-2024-0001 ",
            "[High] CVE-2024-0002 in z",
        ]


def test_sla_and_acceptance_warnings_go_once_per_finding_and_date(database_url):
    today = datetime.now(UTC).date()
    settings = {"sla_days": "critical=2,high=30", "sla_warn_days": 3, "acceptance_warn_days": 7}
    events = ["sla.breach_soon", "risk_acceptance.expiring"]
    with receiver() as hook, server(database_url, **settings) as live, live.client() as api:
        assert import_scan(api, Report("app:1", [CRIT, HIGH, OTHER]).to_json()).status_code == 201
        ids = {f["vulnerability_ids"][0]["vulnerability_id"]: f["id"] for f in findings(api)}
        accepted = {
            "risk_accepted": True,
            "risk_accepted_until": (today + timedelta(days=5)).isoformat(),
        }
        assert (
            api.patch(f"/api/v2/findings/{ids['CVE-2024-0003']}/", json=accepted).status_code == 200
        )
        add_target(api, hook.url(), events=events)  # the scans start announcing now

        def kinds() -> list[tuple[str, int, str]]:
            return sorted(
                (m["event"], m["payload"]["finding"]["id"], m["dedup_key"]) for m in outbox(api)
            )

        wait_until(lambda: len(kinds()) >= 2)
        wait_until(lambda: len(hook.delivered()) >= 2)  # the worker scanned many times since
        assert kinds() == [
            (
                "risk_acceptance.expiring",
                ids["CVE-2024-0003"],
                f"risk_acceptance.expiring:{ids['CVE-2024-0003']}:{today + timedelta(days=5)}",
            ),
            (
                "sla.breach_soon",
                ids["CVE-2024-0001"],
                f"sla.breach_soon:{ids['CVE-2024-0001']}:{today + timedelta(days=2)}",
            ),
        ]
        sla = next(
            r.json()["data"] for r in hook.delivered() if r.json()["event"] == "sla.breach_soon"
        )
        assert (
            sla["days_remaining"] == 2
            and sla["sla_expiration_date"] == (today + timedelta(days=2)).isoformat()
        )
        assert sla["finding"]["severity"] == "Critical"

        # A renewed acceptance ends on another date: that is a new warning, once.
        renewed = {"risk_accepted_until": (today + timedelta(days=6)).isoformat()}
        assert (
            api.patch(f"/api/v2/findings/{ids['CVE-2024-0003']}/", json=renewed).status_code == 200
        )
        wait_until(lambda: len(hook.delivered()) >= 3)
        assert len(hook.wait_for(3)) == 3
        assert [e for e, _, _ in kinds()].count("risk_acceptance.expiring") == 2
