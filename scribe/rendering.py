"""A small, safe Markdown subset to HTML for the document page.

Everything is escaped first; only the tags produced here (headings, paragraphs, lists, quotes,
rules, strong, em, code) are ever emitted, so text from the LLM, a moderator or a chat message can
never become markup. No links, images or raw HTML: a living document does not need them.
"""
from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict

from django.utils.safestring import SafeString, mark_safe

_HEADING_RE = re.compile(r"^(#{1,4})\s+(.*?)\s*#*\s*$")
_BULLET_RE = re.compile(r"^\s{0,3}[-*+]\s+(.*)$")
_ORDERED_RE = re.compile(r"^\s{0,3}\d{1,3}[.)]\s+(.*)$")
_QUOTE_RE = re.compile(r"^\s{0,3}>\s?(.*)$")
_RULE_RE = re.compile(r"^\s{0,3}([-*_])(\s*\1){2,}\s*$")
_CODE_RE = re.compile(r"`([^`\n]+)`")
_DELIMITER_RE = re.compile(r"\*+|_+")
# Bounded in characters, not entries: a version may be SCRIBE_MAX_DOCUMENT_CHARS long, and every
# process that renders (a worker's pool child renders each new version once) keeps its own cache.
RENDER_CACHE_CHARS = 2_000_000


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
    """**strong**, __strong__, *em* and _em_ in one left-to-right pass with a stack of openers.

    Linear in the text (each delimiter is pushed and popped at most once): the regex it replaces
    scanned to the end of the paragraph for every unmatched opener, which made a long paragraph of
    " *a" quadratic on every page view. Single delimiters keep the word-boundary rule (snake_case and
    2*3*4 stay as they are); a run of three or more is text.
    """
    out: list[str] = []
    # Per delimiter, the indexes in `out` of its unclosed openers, innermost last.
    openers: dict[str, list[int]] = {"*": [], "_": [], "**": [], "__": []}
    position = 0
    for match in _DELIMITER_RE.finditer(escaped):
        start, end, run = match.start(), match.end(), match.group()
        out.append(escaped[position:start])
        position = end
        before = escaped[start - 1] if start else " "
        after = escaped[end] if end < len(escaped) else " "
        if len(run) > 2:
            out.append(run)
            continue
        single = len(run) == 1
        can_open = not after.isspace() and (not single or not (before.isalnum() or before == "_"))
        can_close = not before.isspace() and (not single or not (after.isalnum() or after == "_"))
        stack = openers[run]
        if can_close and stack and stack[-1] != len(out) - 1:
            index = stack.pop()
            tag = "em" if single else "strong"
            out[index] = f"<{tag}>"
            out.append(f"</{tag}>")
            for other in openers.values():  # openers inside the span that never closed stay text
                while other and other[-1] > index:
                    other.pop()
            continue
        out.append(run)
        if can_open:
            stack.append(len(out) - 1)
    out.append(escaped[position:])
    return "".join(out)


class RenderCache:
    """Least recently used HTML by text, at most `max_chars` characters of text and HTML in all."""

    def __init__(self, *, max_chars: int) -> None:
        self.max_chars = max_chars
        self.hits = 0
        self._entries: OrderedDict[str, str] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()  # Daphne renders from several threads

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def chars(self) -> int:
        return self._chars

    def html(self, text: str) -> str:
        with self._lock:
            found = self._entries.get(text)
            if found is not None:
                self._entries.move_to_end(text)
                self.hits += 1
                return found
        rendered = _render(text)
        size = len(text) + len(rendered)
        if size > self.max_chars:
            return rendered
        with self._lock:
            if text not in self._entries:
                self._entries[text] = rendered
                self._chars += size
            while self._chars > self.max_chars:
                old_text, old_html = self._entries.popitem(last=False)
                self._chars -= len(old_text) + len(old_html)
        return rendered


render_cache = RenderCache(max_chars=RENDER_CACHE_CHARS)


def render_markdown(text: str) -> SafeString:
    # Every read of every version renders it; a version never changes, so its HTML is kept.
    return mark_safe(render_cache.html(text or ""))


def _render(text: str) -> str:
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

    for raw in text.replace("\r\n", "\n").split("\n"):
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
        if item := bullet or ordered:
            tag = "ul" if bullet else "ol"
            if paragraph or quote or (items and list_tag != tag):
                flush()
            list_tag = tag
            items.append(item.group(1))
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
    return "\n".join(blocks)
