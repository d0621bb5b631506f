"""The offline provider as a (plain, literal) scribe.

A scribe request carries the current document and the new turns in `<<scribe-document>>` and
`<<scribe-turns>>` blocks and wants the complete updated document back. Offline, the document keeps
everything it had (minus the starting placeholder, an italic line) and gains one short prose line
per turn, so the embedded demo's living documents grow as chat goes on. Like a real model asked to
stay within its answer budget (the request's max tokens), it condenses: once the document nears
the budget, the oldest turn lines give way to one line counting them, so a long, busy room never
grows the document past what the model may answer (which would be refused as truncated forever).
"""
from __future__ import annotations

import re
from typing import Any

from chatter_site.lib.offline_llm.prompt import read_block, texts_by_role

CONDENSE_AT = 0.9  # of the answer budget, in words
CONDENSE_TO = 0.75  # well above the scribe's minimum keep ratio, so a condensed answer is accepted
_CONDENSED_RE = re.compile(r"^\(… (\d+) earlier turns condensed\)$")


def _is_placeholder(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > 2 and stripped.startswith("_") and stripped.endswith("_") and "scribe" in stripped.lower()


def _condense(text: str, max_words: int) -> str:
    """Drop the oldest turn paragraphs (counted in one line under the header) to fit the budget."""
    if len(text.split()) <= max_words * CONDENSE_AT:
        return text
    header, _, rest = text.partition("\n")
    paragraphs = [block for block in rest.split("\n\n") if block.strip()]
    condensed = 0
    if paragraphs and (match := _CONDENSED_RE.match(paragraphs[0].strip())):
        condensed = int(match.group(1))
        paragraphs = paragraphs[1:]
    words = len(header.split()) + 4 + sum(len(block.split()) for block in paragraphs)
    while len(paragraphs) > 1 and words > max_words * CONDENSE_TO:
        words -= len(paragraphs.pop(0).split())
        condensed += 1
    return "\n\n".join([header, f"(… {condensed} earlier turns condensed)", *paragraphs])


def compose_scribe_document(messages: list[dict[str, Any]], *, max_words: int | None = None) -> str | None:
    """The updated document, or None when the request is not a scribe update."""
    user = texts_by_role(messages, ("user",))
    document = read_block(user, "scribe-document")
    turns = read_block(user, "scribe-turns")
    if not isinstance(document, str) or not isinstance(turns, list):
        return None
    text = "\n".join(line for line in document.rstrip().split("\n") if not _is_placeholder(line)).rstrip()
    for turn in turns:
        if isinstance(turn, dict) and turn.get("text"):
            text += f"\n\n{turn.get('author', 'Someone')} says: “{turn['text']}”"
    if max_words:
        text = _condense(text, max_words)
    return text + "\n"
