"""The stored trail.

Storage grows with change, not with size: a finding is one row per identity, its
attributes one row per *distinct* attribute set (an occurrence), and its presence
on a track a few *spans* — runs [start_seq, end_seq] of consecutive pipeline runs
in which it was present with the same attributes (end_seq NULL: still present in
the newest run). A run that changes nothing writes no row per finding.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAME = 255


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    email: Mapped[str] = mapped_column(String(255), default="")
    full_name: Mapped[str] = mapped_column(String(255), default="")
    # "local", or the OpenID Connect issuer that created this user on first login,
    # with the provider's stable `sub` for that person (names can change, `sub` cannot).
    source: Mapped[str] = mapped_column(String(255), default="local")
    subject: Mapped[str] = mapped_column(String(255), default="", index=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiToken(Base):
    """An API token, stored only as its SHA-256; `prefix` is shown to tell tokens apart."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(NAME), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)
    # A scoped token carries its own grant instead of acting with all its user's rights.
    role: Mapped[str | None] = mapped_column(String(20))
    product_pattern: Mapped[str | None] = mapped_column(String(255))


class RoleGrant(Base):
    """A role on the products whose names match a glob pattern."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "product_pattern"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    product_pattern: Mapped[str] = mapped_column(String(255))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEvent(Base):
    """Who did what and when: logins, token use and management, imports, triage, settings."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_created", "created"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(60))
    outcome: Mapped[str] = mapped_column(String(20), default="ok")
    target: Mapped[str] = mapped_column(Text, default="")
    source_ip: Mapped[str] = mapped_column(String(64), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WebSession(Base):
    """A browser login: the cookie holds a random id, the store only its SHA-256."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    session_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ProductType(Base):
    __tablename__ = "product_types"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    prod_type_id: Mapped[int] = mapped_column(ForeignKey("product_types.id"), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    default_branch: Mapped[str] = mapped_column(String(NAME), default="main")
    # Days to fix per severity label, overriding the global SLA; None: the global one.
    sla_days: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Track(Base):
    """The ordered runs of one (product, branch)."""

    __tablename__ = "tracks"
    __table_args__ = (UniqueConstraint("product_id", "branch"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    branch: Mapped[str] = mapped_column(String(NAME))


class Engagement(Base):
    """One pipeline run of one product; its place on its track is `run_seq`."""

    __tablename__ = "engagements"
    __table_args__ = (
        UniqueConstraint("product_id", "name"),
        Index("ix_engagements_track_seq", "track_id", "run_seq"),
        Index("ix_engagements_updated", "updated"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id"))
    name: Mapped[str] = mapped_column(String(NAME))
    branch: Mapped[str] = mapped_column(String(NAME))
    pipeline_id: Mapped[int | None] = mapped_column(BigInteger)
    run_seq: Mapped[int] = mapped_column(BigInteger)
    has_runs: Mapped[bool] = mapped_column(Boolean, default=False)
    build_id: Mapped[str] = mapped_column(String(NAME), default="")
    commit_hash: Mapped[str] = mapped_column(String(NAME), default="")
    branch_tag: Mapped[str] = mapped_column(String(NAME), default="")
    version: Mapped[str] = mapped_column(String(NAME), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    engagement_type: Mapped[str] = mapped_column(String(30), default="CI/CD")
    status: Mapped[str] = mapped_column(String(30), default="In Progress")
    source_code_management_uri: Mapped[str] = mapped_column(String(600), default="")
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    target_start: Mapped[date] = mapped_column(Date)
    target_end: Mapped[date] = mapped_column(Date)
    run_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Scan(Base):
    """One scan report imported into an engagement: what DefectDojo calls a *test*."""

    __tablename__ = "tests"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    engagement_id: Mapped[int] = mapped_column(
        ForeignKey("engagements.id", ondelete="CASCADE"), index=True
    )
    scan_type: Mapped[str] = mapped_column(String(NAME))
    title: Mapped[str] = mapped_column(String(NAME), default="")
    # None for a test created through POST /tests/ that no report has filled yet.
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id"))
    # Reports this test held before re-imports replaced them, oldest first.
    previous_report_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    report_sha256: Mapped[str] = mapped_column(String(64), index=True, default="")
    report_format: Mapped[str] = mapped_column(String(30), default="")
    artifact_name: Mapped[str] = mapped_column(Text, default="")
    scanner_version: Mapped[str] = mapped_column(String(NAME), default="")
    finding_count: Mapped[int] = mapped_column(Integer, default=0)
    # The (finding_id, occurrence_id) pairs of this test, packed and compressed:
    # one value, not a row per finding (see ingest.members).
    members: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    statistics: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tags: Mapped[list[Any]] = mapped_column(JSON, default=list)
    version: Mapped[str] = mapped_column(String(NAME), default="")
    build_id: Mapped[str] = mapped_column(String(NAME), default="")
    commit_hash: Mapped[str] = mapped_column(String(NAME), default="")
    branch_tag: Mapped[str] = mapped_column(String(NAME), default="")
    scan_date: Mapped[date | None] = mapped_column(Date)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Report(Base):
    """Every uploaded file, compressed and stored once per content, so a parser fix can
    rebuild the store and nothing imported is ever lost."""

    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(BigInteger)
    codec: Mapped[str] = mapped_column(String(16))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    file_name: Mapped[str] = mapped_column(String(NAME), default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Finding(Base):
    """One issue in one place of one product, across all its runs.

    Status columns describe the product's default branch and are recomputed from
    the spans whenever they change; `present` is "open on the default branch"
    before triage. The API's `active` also honours triage (see store.queries).
    """

    __tablename__ = "findings"
    __table_args__ = (
        UniqueConstraint("product_id", "identity"),
        Index("ix_findings_product_present_sev", "product_id", "present", "severity"),
        Index("ix_findings_rule", "rule_id"),
        Index("ix_findings_status_update", "last_status_update"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    identity: Mapped[bytes] = mapped_column(LargeBinary(16))
    kind: Mapped[str] = mapped_column(String(20))
    rule_id: Mapped[str] = mapped_column(String(NAME))
    package_name: Mapped[str] = mapped_column(String(NAME), default="")
    location: Mapped[str] = mapped_column(Text, default="")
    resource: Mapped[str] = mapped_column(Text, default="")
    # The newest attributes (from the default branch when it has them).
    occurrence_id: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(Text, default="")
    installed_version: Mapped[str] = mapped_column(String(NAME), default="")
    fixed_version: Mapped[str] = mapped_column(Text, default="")
    cwe: Mapped[int] = mapped_column(Integer, default=0)  # first CWE number, 0 when none
    # Status on the default branch, derived from spans.
    on_default_branch: Mapped[bool] = mapped_column(Boolean, default=False)
    present: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_engagement_id: Mapped[int | None] = mapped_column(Integer)
    first_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_seen_engagement_id: Mapped[int | None] = mapped_column(Integer)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    mitigated_engagement_id: Mapped[int | None] = mapped_column(Integer)
    mitigated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    reopen_count: Mapped[int] = mapped_column(Integer, default=0)
    first_test_id: Mapped[int | None] = mapped_column(Integer)
    # Triage: attached to the identity, so it holds in every later run.
    verified: Mapped[bool] = mapped_column(Boolean, default=False)
    false_p: Mapped[bool] = mapped_column(Boolean, default=False)
    out_of_scope: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_accepted: Mapped[bool] = mapped_column(Boolean, default=False)
    risk_accepted_until: Mapped[date | None] = mapped_column(Date)
    triage_reason: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(150), default="")  # who is to fix it
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_status_update: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Occurrence(Base):
    """One distinct set of attributes a finding was reported with."""

    __tablename__ = "occurrences"
    __table_args__ = (UniqueConstraint("finding_id", "attrs_hash"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"))
    attrs_hash: Mapped[bytes] = mapped_column(LargeBinary(16))
    severity: Mapped[int] = mapped_column(SmallInteger)
    title: Mapped[str] = mapped_column(Text, default="")
    installed_version: Mapped[str] = mapped_column(String(NAME), default="")
    fixed_version: Mapped[str] = mapped_column(Text, default="")
    # Every other attribute, as the parser gave it (see ingest.occurrences).
    attrs: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Span(Base):
    """A finding present on a track in every run from start_seq to end_seq (NULL: newest)."""

    __tablename__ = "spans"
    __table_args__ = (
        Index("ix_spans_track_end", "track_id", "end_seq"),
        Index("ix_spans_track_start", "track_id", "start_seq"),
        Index("ix_spans_finding", "finding_id", "track_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    track_id: Mapped[int] = mapped_column(ForeignKey("tracks.id", ondelete="CASCADE"))
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"))
    occurrence_id: Mapped[int] = mapped_column(ForeignKey("occurrences.id"))
    start_seq: Mapped[int] = mapped_column(BigInteger)
    end_seq: Mapped[int | None] = mapped_column(BigInteger)


class FindingEvent(Base):
    """A change people made to a finding (triage, notes); the scan-driven part of a
    finding's history is derived from its spans and never stored twice."""

    __tablename__ = "finding_events"
    __table_args__ = (Index("ix_finding_events_finding", "finding_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(150), default="")
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FindingNote(Base):
    __tablename__ = "finding_notes"
    __table_args__ = (Index("ix_finding_notes_finding", "finding_id", "id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    finding_id: Mapped[int] = mapped_column(ForeignKey("findings.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class NotificationTarget(Base):
    """Where notifications go: a generic JSON webhook (HMAC-signed), Slack or Teams.

    `product_id` None: every product. `secret` signs webhook bodies; it is never shown
    again through the API or logged.
    """

    __tablename__ = "notification_targets"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    product_id: Mapped[int | None] = mapped_column(
        ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))  # webhook, slack, teams
    url: Mapped[str] = mapped_column(Text)
    secret: Mapped[str] = mapped_column(String(255), default="")
    events: Mapped[list[Any]] = mapped_column(JSON, default=list)  # empty: all events
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OutboxMessage(Base):
    """A notification written in the transaction of the change it reports, delivered after
    commit by the outbox worker, with retries: none is lost across restarts."""

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_dedup", "target_id", "dedup_key"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(
        ForeignKey("notification_targets.id", ondelete="CASCADE")
    )
    event: Mapped[str] = mapped_column(String(60))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    dedup_key: Mapped[str] = mapped_column(String(255), default="")
    status: Mapped[str] = mapped_column(String(20), default="pending")  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
