"""Memory's tasks sent by name, so services never import memory.tasks (which imports them).

The names are the ones registered by memory/tasks.py and routed in settings; docs/architecture.md,
"Queues and beat".
"""
from __future__ import annotations

import logging
from typing import Any

from celery import current_app

from memory.keys import NARRATIVE_LOCK_SECONDS
from memory.models import ReflectionJob

log = logging.getLogger("chatter.memory")

REFLECTION_RUN_TASK = "memory.tasks.reflection_run_task"
NARRATIVE_REGENERATE_TASK = "memory.tasks.narrative_regenerate_task"
CONVERSATION_BATCH_TASK = "memory.tasks.conversation_memories_batch_task"


def reflection_run_send(job: ReflectionJob, *, countdown: float | None = None) -> bool:
    """Put the job's task on the "reflection" queue with the job's priority (0 runs first).
    False when the broker refused it: the row is the record, and the sweep sends it again."""
    options: dict[str, Any] = {"priority": int(job.priority)}
    if countdown:
        options["countdown"] = countdown
    try:
        current_app.send_task(REFLECTION_RUN_TASK, args=[job.pk], **options)
    except Exception:
        log.exception("reflection send failed job=%s", job.pk)
        return False
    return True


def narrative_regenerate_send(*, subject_type: str, subject_key: str) -> None:
    current_app.send_task(NARRATIVE_REGENERATE_TASK, args=[subject_type, subject_key], expires=NARRATIVE_LOCK_SECONDS)


def conversation_batch_send(*, conversation_ids: list[int], job_id: str) -> None:
    current_app.send_task(CONVERSATION_BATCH_TASK, args=[conversation_ids], task_id=job_id)
