"""The test LLM's scribe: a deterministic "complete updated document" for scribe prompts.

The local OpenAI-compatible test server composes persona chat lines; for a request carrying the
scribe's `<<scribe-document>>` and `<<scribe-turns>>` blocks this answers instead like a (very
literal) scribe: the document without its placeholder, plus one paragraph per turn that carries the
turn's text and its seq, so tests can check that every turn is in the document exactly once.
"""
from __future__ import annotations

from typing import Any

from chatter_site.lib.offline_llm.prompt import read_block, texts_by_role
from scribe.prompts import PLACEHOLDER


def turn_marker(seq: int) -> str:
    return f"[#{seq}]"


def scribe_document_answer(body: dict[str, Any]) -> str | None:
    messages = body.get("messages") or []
    user = texts_by_role(messages, ("user",))
    document = read_block(user, "scribe-document")
    turns = read_block(user, "scribe-turns")
    if not isinstance(document, str) or not isinstance(turns, list):
        return None
    kept = [line for line in document.rstrip().split("\n") if line.strip() != PLACEHOLDER]
    text = "\n".join(kept).rstrip()
    for turn in turns:
        text += f"\n\n{turn['author']} said: {turn['text']} {turn_marker(turn['seq'])}"
    return text + "\n"
