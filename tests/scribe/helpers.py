"""Small helpers shared by the scribe tests."""
from __future__ import annotations

import re

from chat.models import Message, Room
from chat.services import draft_parse, message_ingest
from tests.factories import bot_draft
from tests.scribe.scribe_llm import turn_marker


def say(room: Room, text: str, *, handle: str = "narrator_bot") -> Message:
    """A message through the real gateway (safety gate, seq, on-commit publish + signal)."""
    return message_ingest(draft=draft_parse(bot_draft(room=room, text=text, handle=handle)))


def markers_in(content: str) -> list[int]:
    """The seqs the test LLM wrote into a document, in order (one per folded turn)."""
    return [int(seq) for seq in re.findall(r"\[#(\d+)\]", content)]


def assert_each_turn_once(content: str, messages: list[Message]) -> None:
    seqs = markers_in(content)
    assert sorted(seqs) == sorted(m.seq for m in messages), f"turns in the document: {seqs}"
    for message in messages:
        assert content.count(message.text) == 1, f"{message.text!r} appears {content.count(message.text)} times"
        assert turn_marker(message.seq) in content
