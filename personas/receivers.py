"""Connects the cast to the chat gateway's signal. Receivers only enqueue."""
from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from chat.events import message_persisted


@receiver(message_persisted, dispatch_uid="personas-answer-mentions")
def answer_mentions(sender: Any, room_slug: str, messages: list[dict[str, Any]], **kwargs: Any) -> None:
    from personas.tasks import persona_mentions_task

    mentioning = [item for item in messages if item["origin"] == "human" and item.get("mentions")]
    if mentioning:
        persona_mentions_task.delay(room_slug, mentioning)


@receiver(message_persisted, dispatch_uid="personas-note-witnessed")
def note_witnessed(sender: Any, room_slug: str, messages: list[dict[str, Any]], **kwargs: Any) -> None:
    """Witnessed scoping: each persona on the roster notes what reached the room while it was there
    (one Redis write each; the reflection beat turns the notes into jobs)."""
    from personas.drift import reflection_witnessed_note

    try:
        reflection_witnessed_note(room_slug=room_slug, messages=messages)
    except Exception:
        # Memory is best effort on the chat path: a Redis hiccup must never fail a message's publish.
        logging.getLogger("chatter.personas").exception("reflection note failed room=%s", room_slug)
