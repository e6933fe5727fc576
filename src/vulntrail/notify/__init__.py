"""Notifications: events written to a durable outbox with the change they report,
delivered after commit to webhooks, Slack and Teams by a worker in each server process.

Stages, each in its own module:

- `events`: the events and their JSON payloads (pure);
- `triggers` and `watch`: which changes produce which events (an import; a periodic scan
  for SLA due dates and risk acceptances that end soon);
- `outbox`: writes one message per matching target inside the caller's transaction;
- `formats`: a message as the HTTP request a target kind expects (pure);
- `delivery`: claims due messages, posts them, retries with backoff;
- `runner`: the background thread the application starts and stops.
"""
