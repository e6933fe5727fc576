"""The server-side SVG charts: well-formed, with axes, ticks and labels, and escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from vulntrail.web.charts import TrendRun, nice_ticks, sparkline, trend_chart

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    # The markup is inline SVG without a namespace declaration; add one to parse it.
    return ET.fromstring(str(markup).replace("<svg ", f'<svg xmlns="{SVG[1:-1]}" ', 1))


def _texts(root: ET.Element) -> list[str]:
    return ["".join(node.itertext()) for node in root.iter(f"{SVG}text")]


def test_nice_ticks_cover_the_maximum_with_round_steps():
    assert nice_ticks(0) == [0, 1]
    assert nice_ticks(3) == [0, 1, 2, 3]
    assert nice_ticks(7) == [0, 2, 4, 6, 8]
    assert nice_ticks(100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(237) == [0, 50, 100, 150, 200, 250]
    for maximum in range(1, 2000, 37):
        ticks = nice_ticks(maximum)
        assert ticks[0] == 0 and ticks[-1] >= maximum and len(ticks) <= 11


def test_trend_chart_has_axes_ticks_axis_titles_and_a_labelled_legend():
    runs = [
        TrendRun("CI-main-1", {4: 2, 3: 10, 2: 5, 1: 1, 0: 0}),
        TrendRun("CI-main-2", {4: 1, 3: 12, 2: 5, 1: 0, 0: 3}),
        TrendRun("CI-main-3", {4: 0, 3: 7, 2: 6, 1: 2, 0: 3}),
    ]
    root = _parse(trend_chart(runs, title="Open findings of main"))
    texts = _texts(root)
    assert root.get("role") == "img"
    assert root.find(f"{SVG}title").text == "Open findings of main"
    assert {"Critical", "High", "Medium", "Low", "Info"} <= set(texts)  # legend
    assert {"0", "5", "10", "15"} <= set(texts)  # y ticks up to above the maximum (12)
    assert {"CI-main-1", "CI-main-2", "CI-main-3"} <= set(texts)  # x labels
    assert "Open findings" in texts and "Pipeline run" in texts  # axis titles
    assert len(root.findall(f"{SVG}line[@class='axis']")) == 2
    assert len(root.findall(f"{SVG}polyline")) == 5  # one series per severity
    points = root.findall(f"{SVG}circle")
    assert "CI-main-2: High 12" in {"".join(c.itertext()) for c in points}


def test_trend_chart_thins_x_labels_and_keeps_the_newest_run():
    runs = [TrendRun(f"CI-main-{n}", {3: n}) for n in range(1, 101)]
    texts = _texts(_parse(trend_chart(runs, title="t")))
    labels = [t for t in texts if t.startswith("CI-main-")]
    assert 2 <= len(labels) <= 9 and "CI-main-100" in labels


def test_chart_text_from_reports_is_escaped():
    hostile = '<script>alert(1)</script>"&'
    markup = trend_chart([TrendRun(hostile, {4: 1})], title=hostile)
    assert "<script>" not in markup
    root = _parse(markup)
    assert root.find(f"{SVG}title").text == hostile
    spark = sparkline([1, 2], label=hostile)
    assert "<script>" not in spark
    assert _parse(spark).get("aria-label") == hostile


def test_empty_trend_says_so_and_sparklines_handle_short_series():
    assert "No runs on this branch yet" in _texts(_parse(trend_chart([], title="t")))
    for values in ([], [5], [0, 0], [3, 1, 4, 1, 5]):
        root = _parse(sparkline(values, label="trend"))
        assert root.get("aria-label") == "trend"
