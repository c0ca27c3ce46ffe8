"""incidents.markup.render_markdown: Markdown in, sanitised HTML out, with one reused parser
per thread and a cache of rendered texts."""

import sys
import threading

import markdown
import nh3
import pytest

from incidents import markup
from incidents.markup import render_markdown

# What the markup tests elsewhere (timeline, previews, reviews, status page) feed it, and the
# Markdown the extensions handle.
SAMPLES = [
    "",
    "**bold** <script>alert(1)</script>",
    "<script>alert(1)</script> and [x](javascript:alert(1))",
    '<img src=x onerror="alert(2)"> [ok](https://example.com)',
    "<iframe src='https://evil.example'></iframe>**bold**",
    "*zh* 错误率为 **5%**",
    '# Title\n\nSome text with `code` and a [link](https://example.com "t").\n\n> quoted',
    "```python\nprint('<b>')\n```\n\nafter",
    "| a | b |\n|:--|--:|\n| 1 | 2 |",
    "1. one\n2. two\n\n- x\n- y\n\n3. three",
    "[ref link][r]\n\n[r]: https://example.com/ref",
    '<a href="https://example.com" onclick="x()">a</a> <abbr title="t">T</abbr>',
    "mail <mailto:ops@example.com> and <https://example.com/auto>",
]


def fresh_parser_render(text):
    """The implementation before the parser was reused: a new parser for every text."""
    html = markdown.markdown(text or "", extensions=["fenced_code", "tables", "sane_lists"])
    return nh3.clean(
        html,
        tags=markup._ALLOWED_TAGS,
        attributes=markup._ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


@pytest.fixture(autouse=True)
def cold_cache():
    markup._render_cached.cache_clear()
    yield
    markup._render_cached.cache_clear()


def test_render_markdown_gives_the_same_sanitised_html_as_a_fresh_parser():
    for _round in range(2):  # the second round comes from the cache
        for text in SAMPLES:
            assert render_markdown(text) == fresh_parser_render(text), text
    assert render_markdown(None) == ""


def test_render_markdown_still_sanitises():
    html = render_markdown("<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(2)>")
    assert "<script" not in html and "javascript:" not in html and "onerror" not in html


def test_reference_links_of_one_text_do_not_leak_into_the_next():
    render_markdown("[a][r]\n\n[r]: https://example.com/secret")
    assert render_markdown("[a][r]") == "<p>[a][r]</p>"


def test_long_texts_render_the_same_without_the_cache():
    text = "**word** " * (markup._CACHED_LENGTH // 9 + 1)
    assert render_markdown(text) == fresh_parser_render(text)
    assert markup._render_cached.cache_info().currsize == 0


def test_render_markdown_is_safe_to_call_from_many_threads():
    texts = [f"Update {n}: **{n}** [r{n}][r]\n\n[r]: https://example.com/{n}" for n in range(200)]
    expected = {t: fresh_parser_render(t) for t in texts}
    problems = []

    def work(offset):
        for t in texts[offset:] + texts[:offset]:
            if markup._render(t) != expected[t]:
                problems.append(t)

    threads = [threading.Thread(target=work, args=(n * 50,)) for n in range(4)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, in the middle of conversions
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert problems == []
