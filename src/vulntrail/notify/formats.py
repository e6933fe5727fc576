"""A message as the HTTP request each kind of target expects. Pure functions.

- `webhook`: the generic JSON envelope `{"id", "event", "created", "data"}`, with
  `X-Vulntrail-Event`, `X-Vulntrail-Delivery` (the message id: the same message may arrive
  twice after a crash, receivers deduplicate on it) and, when the target has a secret,
  `X-Vulntrail-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>`.
- `slack`: an incoming-webhook message, `{"text": …, "blocks": […]}` (Mattermost and
  Rocket.Chat accept it too).
- `teams`: a `message` with one Adaptive Card attachment, the format Teams Workflows and
  the older Office 365 connector webhooks both accept.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from vulntrail import __version__
from vulntrail.notify import events

KINDS = ("webhook", "slack", "teams")
SIGNATURE_HEADER = "X-Vulntrail-Signature"
CHAT_LISTED = 10  # findings shown in a chat message; the webhook body has them all
_SLACK_TEXT_LIMIT = 2900


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    event: str
    payload: dict[str, Any]
    created: datetime


@dataclass(frozen=True, slots=True)
class Outgoing:
    body: bytes
    headers: dict[str, str]


def render(kind: str, message: Message, secret: str) -> Outgoing:
    if kind == "webhook":
        return webhook(message, secret)
    if kind == "slack":
        return _json(slack(message), message)
    if kind == "teams":
        return _json(teams(message), message)
    raise ValueError(f"unknown notification target kind {kind!r}; kinds are {', '.join(KINDS)}")


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def webhook(message: Message, secret: str) -> Outgoing:
    envelope = {
        "id": message.id,
        "event": message.event,
        "created": message.created.isoformat(),
        "data": message.payload,
    }
    outgoing = _json(envelope, message)
    if secret:
        outgoing.headers[SIGNATURE_HEADER] = signature(secret, outgoing.body)
    return outgoing


def slack(message: Message) -> dict[str, Any]:
    title, facts, lines = describe(message.event, message.payload)
    text = "\n".join(_slack_escape(line) for line in lines)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": title[:150]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*{_slack_escape(k)}*\n{_slack_escape(v)}"}
                for k, v in facts[:10]
            ],
        },
    ]
    if text:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}})
    return {"text": title, "blocks": blocks}


def teams(message: Message) -> dict[str, Any]:
    title, facts, lines = describe(message.event, message.payload)
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "FactSet", "facts": [{"title": k, "value": v} for k, v in facts]},
    ]
    body.extend({"type": "TextBlock", "text": line, "wrap": True} for line in lines)
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
    }
    return {
        "type": "message",
        "summary": title,
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


Facts = list[tuple[str, str]]


def describe(event: str, payload: dict[str, Any]) -> tuple[str, Facts, list[str]]:
    """A title, facts (label, value) and lines of text for a chat message."""
    product = str(payload["product"]["name"])
    if event == events.FINDING_NEW:
        run = payload["engagement"]
        counts = ", ".join(f"{n} {label}" for label, n in payload["counts"].items())
        facts = [("Product", product), ("Run", str(run["name"])), ("Branch", str(run["branch"]))]
        if run["commit_hash"]:
            facts.append(("Commit", str(run["commit_hash"])))
        lines = [_finding_line(f) for f in payload["findings"][:CHAT_LISTED]]
        if payload["total"] > len(lines):
            lines.append(f"… and {payload['total'] - len(lines)} more")
        return f"{product}: new {counts} finding(s) in {run['name']}", facts, lines
    finding = payload["finding"]
    label = f"{finding['vulnerability_id']} ({finding['severity']})"
    days = _days(int(payload["days_remaining"]))
    if event == events.SLA_BREACH_SOON:
        due = str(payload["sla_expiration_date"])
        title = f"{product}: SLA of {label} is due {days}"
        facts = [("Product", product), ("SLA due", due)]
    elif event == events.ACCEPTANCE_EXPIRING:
        until = str(payload["risk_accepted_until"])
        title = f"{product}: risk acceptance of {label} ends {days}"
        facts = [("Product", product), ("Accepted until", until)]
        if payload["reason"]:
            facts.append(("Reason", str(payload["reason"])))
    else:
        raise ValueError(f"unknown notification event {event!r}")
    return title, facts, [_finding_line(finding)]


def _finding_line(finding: dict[str, Any]) -> str:
    where = " ".join(p for p in (finding["component_name"], finding["component_version"]) if p)
    fixed = f" (fixed in {finding['fixed_version']})" if finding["fixed_version"] else ""
    subject = f"{finding['vulnerability_id']} in {where}" if where else finding["vulnerability_id"]
    return f"[{finding['severity']}] {subject}{fixed}: {finding['title']}"


def origin(url: str) -> str:
    """What logs may say about a target URL: scheme, host and port. The path and query of
    a Slack or Teams incoming-webhook URL are its credential."""
    parts = urlsplit(url)
    try:
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return f"{parts.scheme}://{parts.hostname or '?'}{port}"


def shown_url(kind: str, url: str) -> str:
    """What the API shows of a target URL: no query string (it may carry a token), and for
    Slack and Teams, whose paths are credentials, the origin only."""
    if kind in ("slack", "teams"):
        return origin(url) + "/…"
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _days(days: int) -> str:
    if days <= 0:
        return "today"
    return "tomorrow" if days == 1 else f"in {days} days"


def _json(value: Any, message: Message) -> Outgoing:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"vulntrail/{__version__}",
        "X-Vulntrail-Event": message.event,
        "X-Vulntrail-Delivery": str(message.id),
    }
    return Outgoing(body, headers)


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = _SLACK_TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
