"""Charts drawn on the server as SVG: pure functions from numbers to markup.

No script and no inline style (the pages' Content-Security-Policy allows neither):
colours are presentation attributes, and severities also differ by dash pattern and
by a text legend, so colour is never the only carrier of meaning. Every text that
reaches the SVG (run names come from CI) is escaped.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from vulntrail.parsers.interface import Severity

# Severity → (stroke colour, dash pattern); colours match static/app.css.
SEVERITY_STYLE: Mapping[int, tuple[str, str]] = {
    Severity.CRITICAL: ("#a4161a", ""),
    Severity.HIGH: ("#d9480f", "8 3"),
    Severity.MEDIUM: ("#b08800", "4 3"),
    Severity.LOW: ("#1f6feb", "1 3"),
    Severity.INFO: ("#6e7781", "6 3 1 3"),
}
DESCENDING = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)


@dataclass(frozen=True, slots=True)
class TrendRun:
    """One run on the chart's x axis: its label and its open findings per severity."""

    label: str
    counts: Mapping[int, int]

    def total(self) -> int:
        return sum(self.counts.values())


def nice_ticks(maximum: int, *, target: int = 5) -> list[int]:
    """Whole-number tick values from 0 to at least `maximum`, with a 1, 2 or 5 times 10^k step."""
    if maximum <= 0:
        return [0, 1]
    raw = maximum / target
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next((m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw), 10 * magnitude)
    step = max(1, int(step))
    top = step * math.ceil(maximum / step)
    return list(range(0, top + 1, step))


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def sparkline(values: Sequence[int], *, label: str, width: int = 96, height: int = 24) -> Markup:
    """A small line of totals, newest on the right, with an accessible name."""
    name = escape(label)
    if not values:
        return Markup(
            f'<svg class="spark" role="img" aria-label="{name}" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}"><title>{name}</title>'
            f'<line x1="0" y1="{height - 2}" x2="{width}" y2="{height - 2}" '
            'stroke="#d0d7de" stroke-width="1"/></svg>'
        )
    top = max(max(values), 1)
    step = (width - 4) / max(len(values) - 1, 1)
    points = [(2 + i * step, height - 2 - (v / top) * (height - 4)) for i, v in enumerate(values)]
    if len(points) == 1:
        points.append((width - 2, points[0][1]))
    path = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    last_x, last_y = points[-1]
    return Markup(
        f'<svg class="spark" role="img" aria-label="{name}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{name}</title>'
        f'<polyline fill="none" stroke="#57606a" stroke-width="1.5" points="{path}"/>'
        f'<circle cx="{_num(last_x)}" cy="{_num(last_y)}" r="2" fill="#24292f"/></svg>'
    )


@dataclass(frozen=True, slots=True)
class _Frame:
    width: int
    height: int
    left: int = 52
    right: int = 28
    top: int = 34
    bottom: int = 58

    @property
    def plot_w(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_h(self) -> int:
        return self.height - self.top - self.bottom

    def x(self, index: int, count: int) -> float:
        if count <= 1:
            return self.left + self.plot_w / 2
        return self.left + index * self.plot_w / (count - 1)

    def y(self, value: float, top_value: int) -> float:
        return self.top + self.plot_h - (value / top_value) * self.plot_h


def trend_chart(
    runs: Sequence[TrendRun],
    *,
    title: str,
    x_title: str = "Pipeline run",
    y_title: str = "Open findings",
    width: int = 760,
    height: int = 280,
) -> Markup:
    """Open findings per severity over runs: one line per severity, axes, ticks, legend."""
    frame = _Frame(width, height)
    ticks = nice_ticks(max((max(r.counts.values(), default=0) for r in runs), default=0))
    top_value = ticks[-1]
    parts = [
        f'<svg class="trend" role="img" aria-labelledby="trend-title trend-desc" '
        f'viewBox="0 0 {width} {height}" width="100%" preserveAspectRatio="xMidYMid meet">',
        f'<title id="trend-title">{escape(title)}</title>',
        f'<desc id="trend-desc">{escape(_describe(runs))}</desc>',
    ]
    parts += _axes(frame, ticks, top_value, x_title, y_title)
    parts += _x_labels(frame, runs)
    parts += _legend(frame)
    for severity in DESCENDING:
        parts += _series(frame, runs, severity, top_value)
    parts.append("</svg>")
    return Markup("".join(parts))


def _describe(runs: Sequence[TrendRun]) -> str:
    if not runs:
        return "No runs yet."
    last = runs[-1]
    counts = ", ".join(f"{s.label} {last.counts.get(s, 0)}" for s in DESCENDING)
    return f"{len(runs)} runs; newest run {last.label}: {counts}."


def _axes(frame: _Frame, ticks: list[int], top_value: int, x_title: str, y_title: str) -> list[str]:
    out: list[str] = []
    x0, x1 = frame.left, frame.left + frame.plot_w
    for tick in ticks:
        y = _num(frame.y(tick, top_value))
        out.append(
            f'<line x1="{x0}" y1="{y}" x2="{x1}" y2="{y}" stroke="#eaeef2" stroke-width="1"/>'
            f'<text x="{x0 - 6}" y="{y}" text-anchor="end" dominant-baseline="middle" '
            f'font-size="11" fill="#57606a">{tick}</text>'
        )
    y_bottom = frame.top + frame.plot_h
    out.append(
        f'<line class="axis" x1="{x0}" y1="{frame.top}" x2="{x0}" y2="{y_bottom}" '
        'stroke="#57606a" stroke-width="1"/>'
        f'<line class="axis" x1="{x0}" y1="{y_bottom}" x2="{x1}" y2="{y_bottom}" '
        'stroke="#57606a" stroke-width="1"/>'
        f'<text x="{_num(x0 + frame.plot_w / 2)}" y="{frame.height - 8}" text-anchor="middle" '
        f'font-size="12" fill="#24292f">{escape(x_title)}</text>'
        f'<text x="14" y="{_num(frame.top + frame.plot_h / 2)}" text-anchor="middle" '
        f'font-size="12" fill="#24292f" '
        f'transform="rotate(-90 14 {_num(frame.top + frame.plot_h / 2)})">{escape(y_title)}</text>'
    )
    return out


def _x_labels(frame: _Frame, runs: Sequence[TrendRun], max_labels: int = 8) -> list[str]:
    count = len(runs)
    if count == 0:
        return [
            f'<text x="{_num(frame.left + frame.plot_w / 2)}" '
            f'y="{_num(frame.top + frame.plot_h / 2)}" text-anchor="middle" font-size="13" '
            'fill="#57606a">No runs on this branch yet</text>'
        ]
    every = max(1, math.ceil(count / max_labels))
    shown = set(range(count - 1, -1, -every))
    y_bottom = frame.top + frame.plot_h
    out = []
    for index in sorted(shown):
        x = _num(frame.x(index, count))
        anchor = "end" if index == count - 1 and count > 1 else "middle"
        out.append(
            f'<line x1="{x}" y1="{y_bottom}" x2="{x}" y2="{y_bottom + 4}" stroke="#57606a"/>'
            f'<text x="{x}" y="{y_bottom + 17}" text-anchor="{anchor}" font-size="11" '
            f'fill="#57606a">{escape(_shorten(runs[index].label))}</text>'
        )
    return out


def _shorten(label: str, limit: int = 16) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def _legend(frame: _Frame) -> list[str]:
    out = []
    x = frame.left
    for severity in DESCENDING:
        colour, dash = SEVERITY_STYLE[severity]
        dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<line x1="{x}" y1="14" x2="{x + 22}" y2="14" stroke="{colour}" '
            f'stroke-width="2.5"{dash_attr}/>'
            f'<text x="{x + 27}" y="14" dominant-baseline="middle" font-size="12" '
            f'fill="#24292f">{severity.label}</text>'
        )
        x += 34 + 8 * len(severity.label) + 14
    return out


def _series(frame: _Frame, runs: Sequence[TrendRun], severity: Severity, top: int) -> list[str]:
    if not runs:
        return []
    colour, dash = SEVERITY_STYLE[severity]
    count = len(runs)
    points = [
        (frame.x(i, count), frame.y(run.counts.get(severity, 0), top)) for i, run in enumerate(runs)
    ]
    dash_attr = f' stroke-dasharray="{dash}"' if dash else ""
    path = " ".join(f"{_num(x)},{_num(y)}" for x, y in points)
    out = [
        f'<polyline class="series sev-{int(severity)}" fill="none" stroke="{colour}" '
        f'stroke-width="2"{dash_attr} points="{path}"/>'
    ]
    if count <= 60:
        for run, (x, y) in zip(runs, points, strict=True):
            value = run.counts.get(severity, 0)
            out.append(
                f'<circle cx="{_num(x)}" cy="{_num(y)}" r="2.5" fill="{colour}">'
                f"<title>{escape(run.label)}: {severity.label} {value}</title></circle>"
            )
    return out
