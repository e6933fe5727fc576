"""The lifecycle rule, as edits to spans.

A span says: finding F was present on this track, with occurrence O, in every run
whose sequence number lies in [start, end] (end None: up to the newest run and any
run appended after it, until a run lacks F). Importing run R (sequence `seq`,
between the existing runs `prev` and `nxt`) sets what R contains; spans that
already straddle `seq` implicitly contain R, so the edits below touch only the
findings whose presence or attributes differ from that implicit content. This
makes an unchanged run free, and makes the result independent of the order in
which runs arrive: the spans always describe "present in exactly these runs".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(slots=True)
class SpanRow:
    id: int | None
    finding_id: int
    occurrence_id: int
    start: int
    end: int | None

    def covers(self, seq: int) -> bool:
        return self.start <= seq and (self.end is None or self.end >= seq)


@dataclass(slots=True)
class SpanEdits:
    updated: dict[int, SpanRow] = field(default_factory=dict)
    inserted: list[SpanRow] = field(default_factory=list)
    deleted: set[int] = field(default_factory=set)
    changed_findings: set[int] = field(default_factory=set)

    def update(self, row: SpanRow) -> None:
        assert row.id is not None
        self.updated[row.id] = row
        self.changed_findings.add(row.finding_id)

    def insert(self, row: SpanRow) -> None:
        self.inserted.append(row)
        self.changed_findings.add(row.finding_id)

    def delete(self, row: SpanRow) -> None:
        assert row.id is not None
        self.updated.pop(row.id, None)
        self.deleted.add(row.id)
        self.changed_findings.add(row.finding_id)


def group_by_finding(rows: Iterable[SpanRow]) -> dict[int, list[SpanRow]]:
    grouped: dict[int, list[SpanRow]] = {}
    for row in rows:
        grouped.setdefault(row.finding_id, []).append(row)
    return grouped


def set_run_content(
    spans: Mapping[int, list[SpanRow]],
    seq: int,
    prev: int | None,
    nxt: int | None,
    desired: Mapping[int, int],
) -> SpanEdits:
    """Edits that make run `seq` contain exactly `desired` (finding id → occurrence id).

    `spans` must hold, per finding, every span of the track that touches the window
    [prev, nxt] (all spans covering seq, ending at prev, or starting at nxt).
    """
    edits = SpanEdits()
    for finding_id in spans.keys() | desired.keys():
        rows = spans.get(finding_id, [])
        want = desired.get(finding_id)
        cover = next((row for row in rows if row.covers(seq)), None)
        if cover is not None:
            if cover.occurrence_id != want:
                _cut(cover, seq, prev, nxt, edits)
                if want is not None:
                    _join(rows, finding_id, want, seq, prev, nxt, edits)
        elif want is not None:
            _join(rows, finding_id, want, seq, prev, nxt, edits)
    return edits


def _cut(cover: SpanRow, seq: int, prev: int | None, nxt: int | None, edits: SpanEdits) -> None:
    """Take run `seq` out of `cover`, keeping what lies on either side of it."""
    has_left = cover.start < seq
    has_right = nxt is not None and (cover.end is None or cover.end > seq)
    if has_left and has_right:
        assert nxt is not None
        edits.insert(SpanRow(None, cover.finding_id, cover.occurrence_id, nxt, cover.end))
        cover.end = prev
        edits.update(cover)
    elif has_left:
        cover.end = prev
        edits.update(cover)
    elif has_right:
        assert nxt is not None
        cover.start = nxt
        edits.update(cover)
    else:
        edits.delete(cover)


def _join(
    rows: list[SpanRow],
    finding_id: int,
    want: int,
    seq: int,
    prev: int | None,
    nxt: int | None,
    edits: SpanEdits,
) -> None:
    """Add run `seq` for a finding absent from it, merging with equal neighbours."""
    left = next(
        (r for r in rows if prev is not None and r.end == prev and r.occurrence_id == want), None
    )
    right = next(
        (r for r in rows if nxt is not None and r.start == nxt and r.occurrence_id == want), None
    )
    if left is not None and right is not None:
        left.end = right.end
        edits.update(left)
        edits.delete(right)
    elif left is not None:
        left.end = seq if nxt is not None else None
        edits.update(left)
    elif right is not None:
        right.start = seq
        edits.update(right)
    else:
        edits.insert(SpanRow(None, finding_id, want, seq, seq if nxt is not None else None))
