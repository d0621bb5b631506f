"""Connects the cast to the chat gateway's signal. Receivers only enqueue."""
from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from chat.events import message_persisted
from chat.names import name_source_register


@receiver(message_persisted, dispatch_uid="personas-answer-mentions")
def answer_mentions(
    sender: Any, room_slug: str, messages: list[dict[str, Any]], correlation_ids: dict[int, str] | None = None, **kwargs: Any
) -> None:
    from personas.tasks import persona_mentions_task

    # A reply to a persona's line is answered as a mention is (persona_mentions_answer resolves it).
    mentioning = [item for item in messages if item["origin"] == "human" and (item.get("mentions") or item.get("reply_to"))]
    if mentioning:
        corr = {str(item["seq"]): (correlation_ids or {}).get(item["seq"], "") for item in mentioning}
        persona_mentions_task.delay(room_slug, mentioning, corr)


def persona_handles() -> list[str]:
    """Sign-up refuses these names and their look-alikes: a viewer may not pose as one of the cast."""
    from personas.models import Persona

    return list(Persona.objects.values_list("handle", flat=True))


name_source_register(persona_handles)
