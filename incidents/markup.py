"""Markdown in, safe HTML out. Every user-written text goes through `render_markdown`.

Building a Markdown parser (its extensions, patterns and processors) cost more than converting
a typical update with it: the status page renders ~150 bodies per build. So each thread keeps
one parser and resets it between texts (a parser is reusable but not thread-safe), and the
sanitised HTML of recent texts is kept by text (the same bodies appear on many pages and feeds).
"""

import threading
from functools import lru_cache

import markdown
import nh3
from django.utils.safestring import mark_safe

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s", "strong", "sub",
    "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "abbr": {"title"}, "td": {"align"}, "th": {"align"}}
_EXTENSIONS = ["fenced_code", "tables", "sane_lists"]
# Texts up to this long are remembered (a review or runbook can be long; those are rendered
# once per view anyway), and this many of them: a few MB at most.
_CACHED_LENGTH = 20_000
_CACHED_TEXTS = 2048

_local = threading.local()


def _parser():
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = markdown.Markdown(extensions=_EXTENSIONS)
    return parser


def _render(text):
    parser = _parser()
    try:
        html = parser.convert(text)
    finally:
        parser.reset()  # reference links and other state of one text must not reach the next
    return nh3.clean(
        html,
        tags=_ALLOWED_TAGS,
        attributes=_ALLOWED_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
    )


_render_cached = lru_cache(maxsize=_CACHED_TEXTS)(_render)


def render_markdown(text):
    text = text or ""
    clean = _render_cached(text) if len(text) <= _CACHED_LENGTH else _render(text)
    return mark_safe(clean)  # noqa: S308 - sanitised by nh3 in _render
