"""Merchants' notes: Markdown in, safe HTML out (no script can run, whatever is typed)."""

from __future__ import annotations

from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

_md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": True})

_TAGS = {"p", "br", "strong", "em", "a", "ul", "ol", "li", "h3", "h4", "blockquote", "code"}
_ATTRIBUTES = {"a": {"href", "title"}}


@lru_cache(maxsize=1024)
def render_markdown(text: str) -> str:
    """HTML for a merchant's note: raw HTML is shown as text, links are http(s) or mailto."""
    html = _md.render(text)
    return nh3.clean(
        html,
        tags=_TAGS,
        attributes=_ATTRIBUTES,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener nofollow",
    )
