"""Celery entry points of memory (docs/architecture.md, "Queues and beat"). Thin: each parses ids,
calls one service and returns; every one is safe to run twice. Services send these by name
(memory/enqueue.py), so the names below are the contract: keep them.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.conf import settings

from memory.services.conversations import conversation_memories_enqueue
from memory.services.narratives import narratives_refresh_active
from memory.services.reflection import reflection_flush, reflection_run
from memory.services.store import memories_fade

log = logging.getLogger("chatter.memory.tasks")


@shared_task(ignore_result=True, acks_late=True)
def reflection_run_task(job_id: int) -> str:
    """One attempt of a reflection job. acks_late with task_reject_on_worker_lost (settings): a worker
    killed mid-job leaves the message to be delivered again; the claim makes a second delivery of a
    running, done, dead or folded job return quietly, and the sweep recovers an expired lease."""
    return reflection_run(job_id=job_id)


@shared_task(ignore_result=True)
def reflection_flush_task() -> int:
    """Beat `memory-reflection-flush`: pending ranges in Redis become jobs."""
    return reflection_flush()


@shared_task(ignore_result=True)
def memories_fade_task() -> int:
    """Beat `memory-jokes-fade`: running jokes unused for long fade out of retrieval."""
    return memories_fade()


@shared_task(ignore_result=True)
def conversation_memories_enqueue_task() -> int:
    """Beat (only with CONVERSATION_MEMORY_BEAT): what `generate_memories` does with the default threshold."""
    ids, _ = conversation_memories_enqueue(
        inactive_for=timedelta(hours=settings.CONVERSATION_MEMORY_INACTIVE_HOURS), dry_run=False
    )
    return len(ids)


@shared_task(ignore_result=True)
def narratives_refresh_active_task() -> int:
    """Beat, weekly: regenerate the narratives of subjects active in the last 7 days."""
    return narratives_refresh_active()
