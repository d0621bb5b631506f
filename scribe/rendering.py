"""A small, safe Markdown subset to HTML for the document page.

Everything is escaped first; only the tags produced here (headings, paragraphs, lists, quotes,
rules, strong, em, code) are ever emitted, so text from the LLM, a moderator or a chat message can
never become markup. No links, images or raw HTML: a living document does not need them.
"""
from __future__ import annotations

import html
import re

from django.utils.safestring import SafeString, mark_safe

_HEADING_RE = re.compile(r"^(#{1,4})\s+(.*?)\s*#*\s*$")
_BULLET_RE = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_ORDERED_RE = re.compile(r"^\s{0,3}\d{1,3}[.)]\s+(.*)$")
_QUOTE_RE = re.compile(r"^\s{0,3}>\s?(.*)$")
_RULE_RE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_CODE_RE = re.compile(r"`([^`\n]+)`")
_STRONG_RE = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_EM_STAR_RE = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_EM_UNDERSCORE_RE = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")


def _inline(text: str) -> str:
    """Escaped text with emphasis and code spans; code spans are left alone inside."""
    out: list[str] = []
    position = 0
    for match in _CODE_RE.finditer(text):
        out.append(_emphasis(html.escape(text[position : match.start()])))
        out.append(f"<code>{html.escape(match.group(1))}</code>")
        position = match.end()
    out.append(_emphasis(html.escape(text[position:])))
    return "".join(out)


def _emphasis(escaped: str) -> str:
    escaped = _STRONG_RE.sub(r"<strong>\2</strong>", escaped)
    escaped = _EM_STAR_RE.sub(r"<em>\1</em>", escaped)
    return _EM_UNDERSCORE_RE.sub(r"<em>\1</em>", escaped)


def render_markdown(text: str) -> SafeString:
    blocks: list[str] = []
    paragraph: list[str] = []
    items: list[str] = []
    list_tag = ""
    quote: list[str] = []

    def flush() -> None:
        nonlocal list_tag
        if paragraph:
            blocks.append(f"<p>{_inline(' '.join(paragraph))}</p>")
            paragraph.clear()
        if items:
            blocks.append(f"<{list_tag}>" + "".join(f"<li>{_inline(item)}</li>" for item in items) + f"</{list_tag}>")
            items.clear()
            list_tag = ""
        if quote:
            blocks.append(f"<blockquote><p>{_inline(' '.join(quote))}</p></blockquote>")
            quote.clear()

    for raw in (text or "").replace("\r\n", "\n").split("\n"):
        line = raw.rstrip()
        if not line.strip():
            flush()
            continue
        if heading := _HEADING_RE.match(line):
            flush()
            level = len(heading.group(1))
            blocks.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>")
            continue
        if _RULE_RE.match(line):
            flush()
            blocks.append("<hr>")
            continue
        bullet, ordered = _BULLET_RE.match(line), _ORDERED_RE.match(line)
        if bullet or ordered:
            tag = "ul" if bullet else "ol"
            if paragraph or quote or (items and list_tag != tag):
                flush()
            list_tag = tag
            items.append((bullet or ordered).group(1))
            continue
        if quoted := _QUOTE_RE.match(line):
            if paragraph or items:
                flush()
            quote.append(quoted.group(1))
            continue
        if items:  # a continuation line of the last list item
            items[-1] += " " + line.strip()
            continue
        if quote:
            flush()
        paragraph.append(line.strip())
    flush()
    return mark_safe("\n".join(blocks))
