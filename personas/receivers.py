"""Connects the cast to the chat gateway's signal. Receivers only enqueue."""
from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from chat.events import message_persisted
from chat.names import name_source_register
from personas.enqueue import persona_mentions_enqueue
from personas.models import Persona


@receiver(message_persisted, dispatch_uid="personas-answer-mentions")
def answer_mentions(
    sender: Any, room_slug: str, messages: list[dict[str, Any]], correlation_ids: dict[int, str] | None = None, **kwargs: Any
) -> None:
    # A reply to a persona's line is answered as a mention is (persona_mentions_answer resolves it).
    mentioning = [item for item in messages if item["origin"] == "human" and (item.get("mentions") or item.get("reply_to"))]
    if mentioning:
        corr = {str(item["seq"]): (correlation_ids or {}).get(item["seq"], "") for item in mentioning}
        persona_mentions_enqueue(room_slug=room_slug, messages=mentioning, correlation_ids=corr)


def persona_handles() -> list[str]:
    """Sign-up refuses these names and their look-alikes: a viewer may not pose as one of the cast."""
    return list(Persona.objects.values_list("handle", flat=True))


name_source_register(persona_handles)
