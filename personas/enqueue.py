"""The cast's jobs, sent by task name: services and receivers enqueue here, personas.tasks runs them."""
from __future__ import annotations

from typing import Any

from chatter_site.lib.enqueue import task_named


def persona_generate_enqueue(
    *, persona_id: int, room_id: int, decision_id: str, decided_at: float, countdown: float,
    reply_to: dict[str, Any] | None = None, moment: dict[str, str] | None = None,
) -> None:
    """One line to generate for a decision (personas.tasks.persona_generate_task)."""
    kwargs: dict[str, Any] = {"persona_id": persona_id, "room_id": room_id, "decision_id": decision_id, "decided_at": decided_at}
    if reply_to is not None:
        kwargs["reply_to"] = reply_to
    if moment is not None:
        kwargs["moment"] = moment
    task_named("personas.tasks.persona_generate_task").apply_async(kwargs=kwargs, countdown=countdown)


def persona_mentions_enqueue(*, room_slug: str, messages: list[dict[str, Any]], correlation_ids: dict[str, str]) -> None:
    """Humans' messages that @mention or answer a persona (personas.tasks.persona_mentions_task)."""
    task_named("personas.tasks.persona_mentions_task").delay(room_slug, messages, correlation_ids)
