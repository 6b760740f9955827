"""Knowledge base, ground floor: article bodies from Markdown to safe HTML and plain text.

No raw HTML and no script URLs survive ``render_markdown``; ``plain_text`` is what the
search index and the reply-quality check read.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "breaks": True}).enable("table")
_ALLOWED_TAGS = {
    "p",
    "br",
    "strong",
    "em",
    "code",
    "pre",
    "blockquote",
    "ul",
    "ol",
    "li",
    "a",
    "h1",
    "h2",
    "h3",
    "h4",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "img",
    "hr",
}


def render_markdown(body: str) -> str:
    """Markdown → sanitised HTML (no raw HTML, no script URLs)."""
    return nh3.clean(
        _md.render(body or ""),
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href", "title"}, "img": {"src", "alt", "title"}},
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


_MD_SYNTAX = re.compile(r"[#*_`>\[\]()!|-]+")


def plain_text(body: str) -> str:
    return _MD_SYNTAX.sub(" ", nh3.clean(_md.render(body or ""), tags=set())).strip()
