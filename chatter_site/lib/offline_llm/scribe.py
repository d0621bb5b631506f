"""The offline provider as a (plain, literal) scribe.

A scribe request carries the current document and the new turns in `<<scribe-document>>` and
`<<scribe-turns>>` blocks and wants the complete updated document back. Offline, the document keeps
everything it had (minus the starting placeholder, an italic line) and gains one short prose line
per turn, so the embedded demo's living documents grow as chat goes on.
"""
from __future__ import annotations

from typing import Any

from chatter_site.lib.offline_llm.prompt import read_block, texts_by_role


def _is_placeholder(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > 2 and stripped.startswith("_") and stripped.endswith("_") and "scribe" in stripped.lower()


def compose_scribe_document(messages: list[dict[str, Any]]) -> str | None:
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
    return text + "\n"
