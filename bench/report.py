"""The results table (plain text for the terminal, Markdown for the README) and its JSON."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.harness import Result, write_json

COLUMNS = ("scenario", "db", "figure", "reference", "value", "target", "result")


def _cells(result: Result) -> tuple[str, ...]:
    return (
        result.scenario,
        result.database,
        result.figure,
        result.reference,
        f"{result.value:,.0f}" if abs(result.value) >= 10_000 else f"{result.value:g}",
        result.target,
        result.verdict,
    )


def text_table(results: list[Result]) -> str:
    rows = [COLUMNS, *(_cells(r) for r in results)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(results: list[Result]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for result in results:
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in _cells(result)) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": os.cpu_count(),
        "cpu_model": model,
        "load_average_at_end": os.getloadavg(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }


def save(results: list[Result], *, mode: str, seconds: float, name: str = "latest.json") -> Path:
    payload = {
        "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "mode": mode,
        "total_seconds": round(seconds, 1),
        "machine": machine(),
        "all_passed": all(r.passed is not False for r in results),
        "results": [r.as_json() for r in results],
        "markdown": markdown_table(results),
    }
    return write_json(name, payload)
