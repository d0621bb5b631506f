"""Memory's durable-job kinds (chatter_site.lib.jobs; docs/architecture.md, "Durable jobs"):
reflection, narrative regeneration and conversation-memory batches. Registered in
MemoryConfig.ready(); services find them by name (memory.enqueue), so they never import this module.
"""
from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from chatter_site.jobs.models import Job
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.jobs import Claim, JobKind, job_kind_register
from memory import enqueue
from memory.keys import NARRATIVE_LOCK_SECONDS
from memory.models import ReflectionJob
from memory.selectors import SUBJECT_TYPES
from memory.services.conversations import BATCH_LEASE_SECONDS, conversation_memories_batch
from memory.services.narratives import narrative_regenerate_outcome

log = logging.getLogger("chatter.memory")

NARRATIVE_RETRY_SECONDS = 60  # the first retry of a failed regeneration; doubles per attempt


def _reflection_send(job: ReflectionJob, *, countdown: float | None = None) -> bool:
    return enqueue.reflection_run_send(job, countdown=countdown)  # looked up per call: tests replace it


def _narrative_send(job: Job, *, countdown: float | None = None) -> bool:
    subject_type, _, subject_key = job.key.partition(":")
    options: dict[str, Any] = {"countdown": countdown} if countdown else {}
    try:
        enqueue.narrative_regenerate_send(subject_type=subject_type, subject_key=subject_key, **options)
    except Exception:  # the row is the record: the sweep sends it again
        log.exception("narrative regeneration send failed job=%s", job.pk)
        return False
    return True


def _batch_send(job: Job, *, countdown: float | None = None) -> bool:
    try:
        enqueue.conversation_batch_send(job_id=job.pk, countdown=countdown)
    except Exception:
        log.exception("conversation memories send failed job=%s", job.pk)
        return False
    return True


def _narrative_work(claim: Claim) -> dict[str, Any]:
    """One regeneration; a skip (too few memories) is kept as the job's result, which cools readers down."""
    payload = claim.job.payload
    if payload.get("subject_type") not in SUBJECT_TYPES:
        log.warning("narrative job ignored: unknown subject type %r", payload.get("subject_type"))
        return {"result": {"skipped": "unknown subject type"}}
    outcome = narrative_regenerate_outcome(subject_type=payload["subject_type"], subject_key=payload["subject_key"])
    if outcome.narrative is None:
        return {"result": {"skipped": outcome.skipped_reason}}
    return {"result": {"narrative": outcome.narrative.pk}}


def _batch_work(claim: Claim) -> dict[str, Any]:
    """One attempt of a batch: a redo counts again from zero (what is covered by now is skipped)."""
    ids = [int(i) for i in claim.job.payload.get("conversation_ids", [])]
    counts = conversation_memories_batch(conversation_ids=ids, job_id=claim.job.pk)
    return {"result": Job.objects.filter(pk=claim.job.pk).values_list("result", flat=True).first() or counts}


# Any error retries (an outage or a bug alike), then waits in the dead letters for staff.
REFLECTION = JobKind(
    name=enqueue.REFLECTION_JOBS, label="reflection", model=ReflectionJob, task=enqueue.REFLECTION_RUN_TASK,
    lease_seconds=lambda: settings.REFLECTION_LEASE_SECONDS, backoff_seconds=lambda: settings.REFLECTION_BACKOFF_SECONDS,
    transient=(Exception,), send=_reflection_send,
)
# The model failed or answered nothing keepable (ChatterError): retried with backoff, then dead;
# anything else is a bug and dead at once.
NARRATIVE = JobKind(
    name=enqueue.NARRATIVE_JOBS, label="narrative regeneration", model=Job, filters={"kind": enqueue.NARRATIVE_JOBS},
    task=enqueue.JOB_RUN_TASK, queue="reflection", lease_seconds=NARRATIVE_LOCK_SECONDS,
    backoff_seconds=NARRATIVE_RETRY_SECONDS, transient=(ChatterError,), work=_narrative_work, send=_narrative_send,
)
CONVERSATION_BATCH = JobKind(
    name=enqueue.CONVERSATION_BATCH_JOBS, label="conversation memories batch", model=Job,
    filters={"kind": enqueue.CONVERSATION_BATCH_JOBS}, task=enqueue.JOB_RUN_TASK, queue="reflection",
    lease_seconds=BATCH_LEASE_SECONDS, work=_batch_work, send=_batch_send,
)
MEMORY_JOB_KINDS = (REFLECTION, NARRATIVE, CONVERSATION_BATCH)


def memory_job_kinds_register() -> None:
    """MemoryConfig.ready(): every process (worker, web, beat) knows memory's kinds, so the one sweep
    and the generic task find them."""
    for kind in MEMORY_JOB_KINDS:
        job_kind_register(kind)
