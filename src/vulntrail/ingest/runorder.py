"""Where a pipeline run sits on its track.

Runs are ordered by pipeline id — the number that ends the engagement name
(`CI-main-1234`), else the number that ends `build_id` — then by import time.
`run_seq` packs both into one sortable integer: pipeline id * 1024 + the rank of
this run among runs of the same pipeline id. A run with no pipeline id goes after
every run the track holds when it arrives.
"""

from __future__ import annotations

import re

SLOTS_PER_PIPELINE = 1024
MAX_PIPELINE_ID = 2**52  # keeps run_seq inside a signed 64-bit column
_TRAILING_NUMBER = re.compile(r"(\d+)\s*$")
_CI_NAME = re.compile(r"^CI-(?P<branch>.+)-(?P<pipeline>\d+)$")


def pipeline_id(engagement_name: str, build_id: str = "") -> int | None:
    for text in (engagement_name, build_id):
        match = _TRAILING_NUMBER.search(text or "")
        if match:
            number = int(match.group(1))
            if number < MAX_PIPELINE_ID:
                return number
    return None


def branch_from_name(engagement_name: str) -> str | None:
    """The branch of the seed's `CI-{branch}-{pipeline_id}` names."""
    match = _CI_NAME.match(engagement_name)
    return match.group("branch") if match else None


def next_run_seq(pipeline: int | None, taken_in_slot: int | None, newest: int | None) -> int:
    """The sequence number of a new run.

    `taken_in_slot`: the highest run_seq already used by this pipeline id on the
    track (None if none); `newest`: the highest run_seq on the track.
    """
    if pipeline is None:
        base = 0 if newest is None else (newest // SLOTS_PER_PIPELINE + 1)
        return base * SLOTS_PER_PIPELINE
    if taken_in_slot is None:
        return pipeline * SLOTS_PER_PIPELINE
    return min(taken_in_slot + 1, pipeline * SLOTS_PER_PIPELINE + SLOTS_PER_PIPELINE - 1)
