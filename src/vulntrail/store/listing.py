"""Finding lists of one run or one product, for the pages, the API and exports.

A run's findings are the spans of its track covering its run_seq, with the attributes
of that span (invariant 10); "new" means no span of the same finding covers the
previous run. Lists are filtered and paged in SQL (LIMIT/OFFSET) and counted with one
grouped query, so a run of 10,000 findings costs a page of rows, not 10,000.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, literal, not_, or_, select
from sqlalchemy.orm import Session, aliased

from vulntrail.store.findings_repo import active_expr, contains, mitigated_expr
from vulntrail.store.models import Engagement, Finding, Occurrence, Span

SEVERITY_RANGE = range(4, -1, -1)  # Critical first
Counts = dict[int, int]


def empty_counts() -> Counts:
    return dict.fromkeys(SEVERITY_RANGE, 0)


RUN_STATUSES = ("", "new", "carried", "resolved")
PRODUCT_STATUSES = ("open", "triaged", "resolved", "all")
EXPORT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class ListFilters:
    severities: tuple[int, ...] = ()
    package: str = ""
    text: str = ""
    status: str = ""

    @property
    def narrowing(self) -> bool:
        """Whether anything besides the status narrows the list."""
        return bool(self.severities or self.package or self.text)


@dataclass(frozen=True, slots=True)
class Row:
    finding: Finding
    occurrence: Occurrence | None
    change: str  # run view: new / carried / resolved; product view: open / triaged / resolved

    @property
    def severity(self) -> int:
        return self.occurrence.severity if self.occurrence is not None else self.finding.severity


def _narrow(statement: Select[Any], filters: ListFilters, severity: Any, title: Any) -> Select[Any]:
    if filters.severities:
        statement = statement.where(severity.in_(filters.severities))
    if filters.package:
        statement = statement.where(contains(Finding.package_name, filters.package))
    if filters.text:
        statement = statement.where(
            or_(
                contains(Finding.rule_id, filters.text),
                contains(title, filters.text),
                contains(Finding.package_name, filters.text),
            )
        )
    return statement


class RunView:
    """The findings of one run (engagement) as they were in it."""

    def __init__(self, engagement: Engagement, previous_seq: int | None) -> None:
        self.engagement = engagement
        self.previous_seq = previous_seq
        self.here = aliased(Span, name="here")
        self.prev = aliased(Span, name="prev")

    def _covers(self, span: Any, seq: int) -> ColumnElement[bool]:
        return and_(
            span.track_id == self.engagement.track_id,
            span.start_seq <= seq,
            or_(span.end_seq.is_(None), span.end_seq >= seq),
        )

    def _continued(self, span: Any, edge: Any, seq: int) -> ColumnElement[bool]:
        """Another span of the same finding on the track meets `span` at `seq` (a change of
        attributes between two consecutive runs, not an arrival or a departure)."""
        other = aliased(Span, name="other")
        # "+ 0" keeps SQLite's planner off the (track_id, *_seq) indexes, which would
        # visit every span that ended (or began) there, onto (finding_id, track_id).
        return (
            select(other.id)
            .where(
                other.finding_id == span.finding_id,
                other.track_id == self.engagement.track_id,
                edge(other) + 0 == seq,
            )
            .exists()
        )

    def _present(self, *columns: Any) -> Select[Any]:
        here, seq = self.here, self.engagement.run_seq
        is_new: Any = literal(True)
        if self.previous_seq is not None:
            # Spans cover consecutive runs: a span that started after the previous run
            # started in this one, and its finding is new unless a span ended right before.
            is_new = and_(
                here.start_seq > self.previous_seq,
                not_(self._continued(here, lambda other: other.end_seq, self.previous_seq)),
            )
        return (
            select(*columns, is_new.label("is_new"))
            .select_from(here)
            .join(Finding, Finding.id == here.finding_id)
            .join(Occurrence, Occurrence.id == here.occurrence_id)
            .where(self._covers(here, seq))
        )

    def _resolved(self, *columns: Any) -> Select[Any]:
        """Spans that ended with the previous run and do not go on in this one."""
        prev = self.prev
        assert self.previous_seq is not None
        seq = self.engagement.run_seq
        return (
            select(*columns)
            .select_from(prev)
            .join(Finding, Finding.id == prev.finding_id)
            .join(Occurrence, Occurrence.id == prev.occurrence_id)
            .where(
                prev.track_id == self.engagement.track_id,
                prev.end_seq == self.previous_seq,
                not_(self._continued(prev, lambda other: other.start_seq, seq)),
            )
        )

    def _statement(self, filters: ListFilters, *columns: Any) -> Select[Any] | None:
        if not self.engagement.has_runs:
            return None
        if filters.status == "resolved":
            if self.previous_seq is None:
                return None
            statement = self._resolved(*columns, literal(False).label("is_new"))
        else:
            statement = self._present(*columns)
            if filters.status == "carried" and self.previous_seq is None:
                return None
            if filters.status in ("new", "carried"):
                is_new = statement.selected_columns.is_new
                statement = statement.where(is_new if filters.status == "new" else not_(is_new))
        return _narrow(statement, filters, Occurrence.severity, Occurrence.title)

    def counts(self, session: Session, filters: ListFilters) -> tuple[Counts, Counts]:
        """Per severity: findings in the list, and how many of them are new (one query)."""
        total, new = empty_counts(), empty_counts()
        statement = self._statement(filters, Occurrence.severity)
        if statement is None:
            return total, new
        grouped = statement.subquery()
        rows = session.execute(
            select(grouped.c.severity, grouped.c.is_new, func.count()).group_by(
                grouped.c.severity, grouped.c.is_new
            )
        )
        for severity, is_new, number in rows:
            total[int(severity)] += int(number)
            if is_new:
                new[int(severity)] += int(number)
        return total, new

    def rows(self, session: Session, filters: ListFilters, *, limit: int, offset: int) -> list[Row]:
        statement = self._statement(filters, Finding, Occurrence)
        if statement is None:
            return []
        ordered = statement.order_by(
            Occurrence.severity.desc(), Finding.rule_id, Finding.package_name, Finding.id
        )
        return [
            Row(f, o, self._change(filters, bool(is_new)))
            for f, o, is_new in session.execute(ordered.limit(limit).offset(offset))
        ]

    def stream(self, session: Session, filters: ListFilters) -> Iterator[list[Row]]:
        """Every row of the list, fetched from the database EXPORT_CHUNK at a time."""
        statement = self._statement(filters, Finding, Occurrence)
        if statement is None:
            return
        ordered = statement.order_by(Occurrence.severity.desc(), Finding.rule_id, Finding.id)
        result = session.execute(ordered.execution_options(yield_per=EXPORT_CHUNK))
        for part in result.partitions():
            yield [Row(f, o, self._change(filters, bool(n))) for f, o, n in part]

    @staticmethod
    def _change(filters: ListFilters, is_new: bool) -> str:
        if filters.status == "resolved":
            return "resolved"
        return "new" if is_new else "carried"


class ProductView:
    """A product's findings on its default branch, with their newest attributes."""

    def __init__(self, product_id: int, today: date) -> None:
        self.product_id = product_id
        self.today = today

    def _status(self, status: str) -> ColumnElement[bool]:
        active = active_expr(self.today)
        if status == "triaged":
            return and_(Finding.present.is_(True), not_(active))
        if status == "resolved":
            return mitigated_expr()
        if status == "all":
            return Finding.on_default_branch.is_(True)
        return active

    def _statement(self, filters: ListFilters, *columns: Any) -> Select[Any]:
        statement = (
            select(*columns)
            .select_from(Finding)
            .outerjoin(Occurrence, Occurrence.id == Finding.occurrence_id)
            .where(Finding.product_id == self.product_id, self._status(filters.status))
        )
        return _narrow(statement, filters, Finding.severity, Finding.title)

    def counts(self, session: Session, filters: ListFilters) -> Counts:
        out = empty_counts()
        statement = self._statement(filters, Finding.severity, func.count()).group_by(
            Finding.severity
        )
        for severity, number in session.execute(statement):
            out[int(severity)] = int(number)
        return out

    def _label(self, finding: Finding) -> str:
        if not finding.present:
            return "resolved"
        active = (
            not finding.false_p
            and not finding.out_of_scope
            and not (
                finding.risk_accepted
                and (
                    finding.risk_accepted_until is None or finding.risk_accepted_until >= self.today
                )
            )
        )
        return "open" if active else "triaged"

    def rows(self, session: Session, filters: ListFilters, *, limit: int, offset: int) -> list[Row]:
        statement = self._statement(filters, Finding, Occurrence).order_by(
            Finding.severity.desc(), Finding.rule_id, Finding.package_name, Finding.id
        )
        return [
            Row(f, o, self._label(f))
            for f, o in session.execute(statement.limit(limit).offset(offset))
        ]

    def stream(self, session: Session, filters: ListFilters) -> Iterator[list[Row]]:
        statement = self._statement(filters, Finding, Occurrence).order_by(
            Finding.severity.desc(), Finding.rule_id, Finding.id
        )
        result = session.execute(statement.execution_options(yield_per=EXPORT_CHUNK))
        for part in result.partitions():
            yield [Row(f, o, self._label(f)) for f, o in part]
