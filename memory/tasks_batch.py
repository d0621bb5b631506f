"""Celery entry points for conversation memories and narratives; each calls one service.

Imported by memory/tasks.py (autodiscovery only imports `<app>.tasks`). The names are given
explicitly as `memory.tasks.*` so the `memory.tasks.*` route puts them on the "reflection" queue.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from chatter_site.lib.errors import ChatterError
from memory.conversations import conversation_memories_batch, conversation_memories_enqueue
from memory.narratives import SUBJECT_TYPES, narrative_regenerate, narratives_refresh_active

log = logging.getLogger("chatter.memory.tasks")


@shared_task(bind=True, name="memory.tasks.conversation_memories_batch_task", ignore_result=True, acks_late=True)
def conversation_memories_batch_task(self, conversation_ids: list[int]) -> dict[str, int]:
    """The ONE batch job of a `generate_memories` run; idempotent (covered conversations are skipped)."""
    return conversation_memories_batch(conversation_ids=[int(i) for i in conversation_ids], job_id=self.request.id)


@shared_task(name="memory.tasks.conversation_memories_enqueue_task", ignore_result=True)
def conversation_memories_enqueue_task() -> int:
    """Beat (only with CONVERSATION_MEMORY_BEAT): what `generate_memories` does with the default threshold."""
    ids, _ = conversation_memories_enqueue(
        inactive_for=timedelta(hours=settings.CONVERSATION_MEMORY_INACTIVE_HOURS), dry_run=False
    )
    return len(ids)


@shared_task(name="memory.tasks.narrative_regenerate_task", ignore_result=True, acks_late=True)
def narrative_regenerate_task(subject_type: str, subject_key: str) -> bool:
    """Regenerate one narrative. No Celery retry: a failure sets a short cool-down, and the next
    read after it enqueues again, so a down model is retried at a bounded rate."""
    if subject_type not in SUBJECT_TYPES:
        log.warning("narrative task ignored: unknown subject type %r", subject_type)
        return False
    try:
        return narrative_regenerate(subject_type=subject_type, subject_key=subject_key) is not None
    except ChatterError as exc:
        log.warning("narrative regeneration failed subject=%s:%s reason=%s", subject_type, subject_key, exc.message)
        return False


@shared_task(name="memory.tasks.narratives_refresh_active_task", ignore_result=True)
def narratives_refresh_active_task() -> int:
    """Beat, weekly: regenerate the narratives of subjects active in the last 7 days."""
    return narratives_refresh_active()
