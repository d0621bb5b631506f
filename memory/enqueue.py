"""Memory's tasks sent by name, so services never import memory.tasks (which imports them).

The names are the ones registered by memory/tasks.py and routed in settings; docs/architecture.md,
"Queues and beat".
"""
from __future__ import annotations

import logging
from typing import Any

from celery import current_app

from chatter_site.jobs.models import Job
from memory.models import ReflectionJob

log = logging.getLogger("chatter.memory")

REFLECTION_RUN_TASK = "memory.tasks.reflection_run_task"
# Narrative regenerations and conversation batches are generic durable jobs (jobs.Job): one attempt
# is the generic task with the job's id. Their kinds (memory/jobs.py) are looked up by these names.
JOB_RUN_TASK = "chatter_site.jobs.tasks.job_run_task"
REFLECTION_JOBS = "reflection"
NARRATIVE_JOBS = "narrative"
CONVERSATION_BATCH_JOBS = "conversation-memories"


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


def narrative_regenerate_send(*, subject_type: str, subject_key: str, countdown: float | None = None) -> None:
    """Send the subject's regeneration job (its id); tests replace this to record what was sent."""
    job_id = Job.objects.filter(kind=NARRATIVE_JOBS, key=f"{subject_type}:{subject_key}").values_list("pk", flat=True).first()
    if job_id is not None:
        options: dict[str, Any] = {"countdown": countdown} if countdown else {}
        current_app.send_task(JOB_RUN_TASK, args=[job_id], queue="reflection", **options)


def conversation_batch_send(*, job_id: int, countdown: float | None = None) -> None:
    options: dict[str, Any] = {"countdown": countdown} if countdown else {}
    current_app.send_task(JOB_RUN_TASK, args=[job_id], queue="reflection", **options)
