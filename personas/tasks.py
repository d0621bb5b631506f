"""Celery entry points of the cast."""
from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from chat.models import Room
from chatter_site.lib.errors import ChatterError
from personas.drift import drift_reflect_all, persona_drift_reflect
from personas.selectors import tick_room
from personas.services import cast_tick, persona_generate, persona_mentions_answer
from personas.witness import witnessed_collect

drift_logger = logging.getLogger("chatter.personas.drift")


@shared_task(ignore_result=True)
def cast_tick_all_task() -> int:
    """Beat, every second: one tick per live room (each its own task, so rooms tick in parallel)."""
    rooms = list(Room.objects.filter(is_live=True, roster__enabled=True).distinct().values_list("pk", flat=True))
    for room_id in rooms:
        cast_tick_task.apply_async(kwargs={"room_id": room_id}, expires=1.5)
    return len(rooms)


@shared_task(ignore_result=True)
def cast_tick_task(room_id: int) -> int:
    room = tick_room(room_id=room_id)
    if room is None:
        return 0
    return sum(1 for outcome in cast_tick(room=room) if outcome.decision.post)


@shared_task(ignore_result=True, acks_late=True)
def persona_generate_task(
    persona_id: int, room_id: int, decision_id: str, decided_at: float, reply_to: dict[str, Any] | None = None,
    moment: dict[str, str] | None = None,
) -> str | None:
    room = Room.objects.filter(pk=room_id).first()
    if room is None:
        return None
    message = persona_generate(
        room=room, persona_id=persona_id, decision_id=decision_id, decided_at=decided_at, reply_to=reply_to, moment=moment
    )
    return str(message.id) if message else None


@shared_task(ignore_result=True)
def persona_mentions_task(room_slug: str, messages: list[dict[str, Any]], correlation_ids: dict[str, str] | None = None) -> int:
    return persona_mentions_answer(room_slug=room_slug, messages=messages, correlation_ids=correlation_ids)


@shared_task(ignore_result=True)
def drift_reflect_all_task() -> int:
    """Beat `personas-drift`: one drift reflection per active persona, each its own task."""
    persona_ids = drift_reflect_all()
    for persona_id in persona_ids:
        # Expires within the interval: a backlog never piles up reflections of one persona.
        persona_drift_task.apply_async(kwargs={"persona_id": persona_id}, expires=settings.DRIFT_INTERVAL_SECONDS * 0.9)
    return len(persona_ids)


@shared_task(ignore_result=True)
def persona_drift_task(persona_id: int) -> str | None:
    """The slow loop for one persona. An LLM failure is logged; the next interval tries again."""
    try:
        proposal = persona_drift_reflect(persona_id=persona_id)
    except ChatterError as exc:
        drift_logger.warning("drift skipped persona=%s: %s", persona_id, exc.message)
        return None
    return proposal.status if proposal else None


@shared_task(ignore_result=True)
def witnessed_collect_task() -> int:
    """Beat `personas-witnessed-collect`: note what each persona witnessed since the last run."""
    return witnessed_collect()
