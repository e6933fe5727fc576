"""Small pure helpers of the pages: link safety, times, query strings, login redirects."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from vulntrail.web import render, sessions


def test_only_absolute_http_urls_become_links():
    for url in ("https://nvd.nist.gov/vuln/detail/CVE-2024-1", "http://example.test/a?b=c#d"):
        assert render.is_http(url)
    for url in (
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        " javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>",
        "vbscript:x",
        "//evil.test/x",
        "/relative",
        "https://",
        "https://a b.test/",
        "https://example.test/\nx",
        "",
        None,
        42,
    ):
        assert not render.is_http(url), url


def test_times_are_shown_relative_and_absolute():
    now = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    assert render.relative_time(now - timedelta(seconds=20), now) == "just now"
    assert render.relative_time(now - timedelta(minutes=1), now) == "1 minute ago"
    assert render.relative_time(now - timedelta(hours=5), now) == "5 hours ago"
    assert render.relative_time(now - timedelta(days=40), now) == "40 days ago"
    assert render.relative_time(now + timedelta(days=2), now) == "in 2 days"
    assert render.relative_time(None, now) == "never"
    naive = datetime(2024, 5, 1, 9, 30)  # SQLite hands back naive UTC
    assert render.absolute_time(naive) == "2024-05-01 09:30 UTC"


def test_query_strings_keep_the_view_and_replace_one_parameter():
    params = {"severity": ["High", "Low"], "q": "a&b", "status": "", "page": 3}
    assert render.query_string(params, page=4) == "?severity=High&severity=Low&q=a%26b&page=4"
    assert render.query_string(params, page=None) == "?severity=High&severity=Low&q=a%26b"
    pager = render.Pager(total=120, page=2, per_page=50, params={"q": "x"})
    assert (pager.pages, pager.offset, pager.first_shown, pager.last_shown) == (3, 50, 51, 100)
    assert pager.href(1) == "?q=x" and pager.href(3) == "?q=x&page=3"
    assert render.page_number("abc") == 1 and render.page_number("-4") == 1


def test_login_redirects_stay_on_this_site_and_tokens_compare_in_constant_time():
    assert sessions.safe_next("/engagements/4?status=new") == "/engagements/4?status=new"
    for target in (None, "", "https://evil.test", "//evil.test", "/\\evil.test", "/a\nb", "x"):
        assert sessions.safe_next(target) == "/products"
    assert sessions.tokens_match("abc", "abc")
    assert not sessions.tokens_match("abc", "abd")
    assert not sessions.tokens_match("", "") and not sessions.tokens_match(None, "x")
    assert sessions.digest("v") == sessions.digest("v") != "v"
