"""A finding's status on a track, derived from its spans.

* first seen: the first run of its first span;
* open: its last span reaches the newest run (end None);
* last seen: the last run of its last span (the newest run while open);
* resolved by: the run right after its last span;
* reopened: once for every gap between two spans. Two spans that meet without a
  run between them are a change of attributes (version, severity), not a reopen.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from vulntrail.ingest.spans import SpanRow


@dataclass(frozen=True, slots=True)
class Run:
    seq: int
    engagement_id: int
    run_at: datetime


class TrackRuns:
    """The runs of one track in pipeline order, for lookups by sequence number."""

    def __init__(self, runs: Sequence[Run]) -> None:
        self.runs = sorted(runs, key=lambda run: run.seq)
        self.seqs = [run.seq for run in self.runs]

    def at(self, seq: int) -> Run:
        index = bisect.bisect_left(self.seqs, seq)
        if index == len(self.seqs) or self.seqs[index] != seq:
            raise KeyError(f"no run with sequence {seq} on this track")
        return self.runs[index]

    def after(self, seq: int) -> Run | None:
        index = bisect.bisect_right(self.seqs, seq)
        return self.runs[index] if index < len(self.runs) else None

    def before(self, seq: int) -> Run | None:
        index = bisect.bisect_left(self.seqs, seq)
        return self.runs[index - 1] if index > 0 else None

    @property
    def newest(self) -> Run | None:
        return self.runs[-1] if self.runs else None


@dataclass(frozen=True, slots=True)
class TrackStatus:
    open: bool
    first_seen: Run
    last_seen: Run
    resolved_by: Run | None
    reopen_count: int
    occurrence_id: int  # attributes of the newest run that contained it


def track_status(spans: Sequence[SpanRow], runs: TrackRuns) -> TrackStatus | None:
    """Status of one finding on one track; None when it has no span there."""
    if not spans:
        return None
    ordered = sorted(spans, key=lambda span: span.start)
    reopens = 0
    for earlier, later in itertools.pairwise(ordered):
        assert earlier.end is not None
        following = runs.after(earlier.end)
        if following is None or following.seq != later.start:
            reopens += 1
    last = ordered[-1]
    newest = runs.newest
    assert newest is not None
    if last.end is None:
        return TrackStatus(
            True, runs.at(ordered[0].start), newest, None, reopens, last.occurrence_id
        )
    return TrackStatus(
        open=False,
        first_seen=runs.at(ordered[0].start),
        last_seen=runs.at(last.end),
        resolved_by=runs.after(last.end),
        reopen_count=reopens,
        occurrence_id=last.occurrence_id,
    )
