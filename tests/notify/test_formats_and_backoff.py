"""The pure parts: retry delays, signatures, what is shown of a URL. No database."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

from vulntrail.notify import events, formats
from vulntrail.notify.delivery import backoff

MESSAGE = formats.Message(
    7,
    events.SLA_BREACH_SOON,
    events.sla_breach_soon(
        events.ProductRef(1, "orchestrator-server"),
        events.FindingInfo(
            3, "openssl: <bad> & worse", 4, "CVE-2024-0001", "openssl", "3.0.1", "3.0.2"
        ),
        datetime(2025, 1, 10, tzinfo=UTC).date(),
        2,
    ),
    datetime(2025, 1, 8, 12, 0, tzinfo=UTC),
)


def test_retry_delays_double_up_to_an_hour_with_jitter_that_only_shortens():
    assert [backoff(n, 5.0, lambda: 1.0) for n in (1, 2, 3, 4)] == [
        timedelta(seconds=s) for s in (5, 10, 20, 40)
    ]
    assert backoff(30, 5.0, lambda: 1.0) == timedelta(hours=1)
    assert backoff(10_000, 5.0, lambda: 1.0) == timedelta(hours=1)
    assert backoff(3, 5.0, lambda: 0.0) == timedelta(seconds=10)  # half of 20


def test_webhook_body_is_signed_with_the_target_secret_and_unsigned_without_one():
    signed = formats.render("webhook", MESSAGE, "s3cret-s3cret-s3cret")
    expected = hmac.new(b"s3cret-s3cret-s3cret", signed.body, hashlib.sha256).hexdigest()
    assert signed.headers["X-Vulntrail-Signature"] == f"sha256={expected}"
    assert signed.headers["X-Vulntrail-Event"] == "sla.breach_soon"
    assert signed.headers["X-Vulntrail-Delivery"] == "7"
    envelope = json.loads(signed.body)
    assert envelope == {
        "id": 7,
        "event": "sla.breach_soon",
        "created": "2025-01-08T12:00:00+00:00",
        "data": MESSAGE.payload,
    }
    assert "X-Vulntrail-Signature" not in formats.render("webhook", MESSAGE, "").headers


def test_chat_messages_escape_slack_markup_and_say_when_the_sla_is_due():
    slack = json.loads(formats.render("slack", MESSAGE, "").body)
    assert slack["text"] == "orchestrator-server: SLA of CVE-2024-0001 (Critical) is due in 2 days"
    assert "&lt;bad&gt; &amp; worse" in slack["blocks"][2]["text"]["text"]
    teams = json.loads(formats.render("teams", MESSAGE, "").body)
    facts = teams["attachments"][0]["content"]["body"][1]["facts"]
    assert facts == [
        {"title": "Product", "value": "orchestrator-server"},
        {"title": "SLA due", "value": "2025-01-10"},
    ]


def test_logs_and_the_api_never_show_the_credential_parts_of_a_url():
    assert (
        formats.origin("https://hooks.slack.com/services/T0/B0/secret") == "https://hooks.slack.com"
    )
    assert formats.origin("http://127.0.0.1:8099/x?token=1") == "http://127.0.0.1:8099"
    assert (
        formats.shown_url("slack", "https://hooks.slack.com/services/T0/B0/secret")
        == "https://hooks.slack.com/…"
    )
    assert (
        formats.shown_url("webhook", "https://user:pw@example.test/in?token=1")
        == "https://example.test/in"
    )
