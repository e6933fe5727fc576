"""The lifecycle rule on spans, without a database: any arrival order, same trail."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from vulntrail.ingest.spans import SpanRow, group_by_finding, set_run_content
from vulntrail.ingest.status import Run, TrackRuns, track_status

Content = dict[int, int]  # finding id → occurrence id


class MemoryTrack:
    """Spans kept in a list, edited only through set_run_content, as the importer does."""

    def __init__(self) -> None:
        self.rows: dict[int, SpanRow] = {}
        self.seqs: list[int] = []
        self._ids = itertools.count(1)

    def import_run(self, seq: int, content: Content) -> None:
        others = sorted(s for s in self.seqs if s != seq)
        prev = max((s for s in others if s < seq), default=None)
        nxt = min((s for s in others if s > seq), default=None)
        lo = prev if prev is not None else seq
        window = [
            SpanRow(r.id, r.finding_id, r.occurrence_id, r.start, r.end)
            for r in self.rows.values()
            if (r.end is None or r.end >= lo) and (nxt is None or r.start <= nxt)
        ]
        edits = set_run_content(group_by_finding(window), seq, prev, nxt, content)
        for span_id in edits.deleted:
            del self.rows[span_id]
        for span_id, row in edits.updated.items():
            self.rows[span_id] = row
        for row in edits.inserted:
            row.id = next(self._ids)
            self.rows[row.id] = row
        if seq not in self.seqs:
            self.seqs.append(seq)

    def canonical(self) -> set[tuple[int, int, int, int | None]]:
        return {(r.finding_id, r.occurrence_id, r.start, r.end) for r in self.rows.values()}


def expected_spans(history: dict[int, Content]) -> set[tuple[int, int, int, int | None]]:
    """Maximal stretches of consecutive runs with the same attributes, from scratch."""
    seqs = sorted(history)
    out = set()
    findings = {f for content in history.values() for f in content}
    for finding in findings:
        start: int | None = None
        occurrence = None
        for index, seq in enumerate(seqs):
            here = history[seq].get(finding)
            if here != occurrence:
                if occurrence is not None and start is not None:
                    out.add((finding, occurrence, start, seqs[index - 1]))
                start, occurrence = (seq, here) if here is not None else (None, None)
        if occurrence is not None and start is not None:
            out.add((finding, occurrence, start, None))
    return out


contents = st.dictionaries(st.integers(1, 6), st.integers(1, 3), max_size=6)
histories = st.dictionaries(
    st.integers(0, 40).map(lambda n: n * 1024), contents, min_size=1, max_size=8
)


@settings(max_examples=300, deadline=None)
@given(history=histories, data=st.data())
def test_any_arrival_order_gives_the_spans_of_pipeline_order(history, data):
    order = data.draw(st.permutations(sorted(history)))
    track = MemoryTrack()
    for seq in order:
        track.import_run(seq, history[seq])
    assert track.canonical() == expected_spans(history)


@settings(max_examples=200, deadline=None)
@given(history=histories, wrong=contents, data=st.data())
def test_reimporting_a_run_replaces_its_content(history, wrong, data):
    seq = data.draw(st.sampled_from(sorted(history)))
    track = MemoryTrack()
    for run in sorted(history):
        track.import_run(run, wrong if run == seq else history[run])
    track.import_run(seq, history[seq])
    assert track.canonical() == expected_spans(history)


def test_status_counts_gaps_as_reopens_and_attribute_changes_as_nothing():
    track = MemoryTrack()
    history = {1: {7: 1}, 2: {7: 2}, 3: {}, 4: {7: 2}, 5: {7: 2}, 6: {}}
    for seq, content in history.items():
        track.import_run(seq, content)
    runs = TrackRuns([Run(seq, engagement_id=100 + seq, run_at=None) for seq in history])  # type: ignore[arg-type]
    status = track_status(list(track.rows.values()), runs)
    assert status is not None
    assert (status.open, status.first_seen.seq, status.last_seen.seq) == (False, 1, 5)
    assert status.resolved_by is not None and status.resolved_by.seq == 6
    assert status.reopen_count == 1
    assert status.occurrence_id == 2


def test_unchanged_newest_run_edits_nothing():
    track = MemoryTrack()
    content = {f: 1 for f in range(1, 50)}
    track.import_run(1024, content)
    before = track.canonical()
    prev_rows = dict(track.rows)
    window = group_by_finding(prev_rows.values())
    edits = set_run_content(window, 2048, 1024, None, content)
    assert not edits.updated and not edits.inserted and not edits.deleted
    assert track.canonical() == before
