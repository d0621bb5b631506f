"""Narratives on the read path (docs/architecture.md, "Memory", narratives): the cache, else a
fresh row (warming the cache again), else ONE regeneration asked for per subject.
"""
from __future__ import annotations

import json
import logging

import redis
from django.utils import timezone

from chatter_site.jobs.models import Job
from chatter_site.jobs.services import job_enqueue
from chatter_site.lib.jobs import JobStatus, job_kind
from chatter_site.lib.redis import redis_client
from memory import enqueue
from memory.keys import narrative_cache_key
from memory.models import Narrative
from memory.selectors import (
    SKIPPED_PREFIX,
    NarrativeRead,
    SubjectType,
    narrative_cache_read,
    narrative_regeneration_job,
    narrative_regeneration_state,
    narrative_row_fresh,
    narrative_ttl_seconds,
)

log = logging.getLogger("chatter.memory.narratives")

FAILED_COOLDOWN_SECONDS = 60  # a dead regeneration (the model kept failing) is not asked again for this long
SKIPPED_COOLDOWN_SECONDS = 600  # nor one that found too few memories
REGENERATION_ATTEMPTS = 3
# Stale entries are still useful to nobody, but keep them a little past the TTL so a regeneration
# in flight never races an expiry into a DB read storm.
CACHE_GRACE_SECONDS = 24 * 3600


def narrative_cache_put(row: Narrative) -> None:
    entry = {"text": row.text, "generated_at": row.generated_at.isoformat(), "ts": row.generated_at.timestamp()}
    try:
        redis_client().set(
            narrative_cache_key(row.subject_type, row.subject_key),
            json.dumps(entry, ensure_ascii=False),
            ex=int(narrative_ttl_seconds() + CACHE_GRACE_SECONDS),
        )
    except redis.RedisError:
        log.warning("narrative cache not written subject=%s:%s", row.subject_type, row.subject_key)


def narrative_cached(*, subject_type: SubjectType, subject_key: str) -> str | None:
    """The narrative's text from the cache (one Redis GET), or None and a regeneration is asked for."""
    found = narrative_cache_read(subject_type=subject_type, subject_key=subject_key)
    if found is not None:
        return found.text
    return narrative_read(subject_type=subject_type, subject_key=subject_key, cache_checked=True).text


def narrative_read(*, subject_type: SubjectType, subject_key: str, cache_checked: bool = False) -> NarrativeRead:
    """Cache, then a fresh database row (re-warming the cache), else one deduplicated regeneration."""
    if not cache_checked:
        found = narrative_cache_read(subject_type=subject_type, subject_key=subject_key)
        if found is not None:
            return found
    row = narrative_row_fresh(subject_type=subject_type, subject_key=subject_key)
    if row is not None:
        narrative_cache_put(row)
        return NarrativeRead(subject_type, subject_key, "ready", row.text, row.generated_at)
    return _regeneration_request(subject_type=subject_type, subject_key=subject_key)


def _regeneration_request(*, subject_type: SubjectType, subject_key: str) -> NarrativeRead:
    """Enqueue a regeneration unless one is already queued, running, or cooling down."""
    try:
        if narrative_regeneration_enqueue(subject_type=subject_type, subject_key=subject_key):
            return NarrativeRead(subject_type, subject_key, "pending")
        state = narrative_regeneration_state(subject_type=subject_type, subject_key=subject_key)
    except Exception:  # a reader must not fail because the queue did: it just gets no narrative
        log.exception("narrative regeneration not enqueued subject=%s:%s", subject_type, subject_key)
        return NarrativeRead(subject_type, subject_key, "pending")
    if state.startswith(SKIPPED_PREFIX):
        return NarrativeRead(subject_type, subject_key, "not_enough_history", reason=state[len(SKIPPED_PREFIX):])
    return NarrativeRead(subject_type, subject_key, "pending")


def _cooling_down(job: Job | None) -> bool:
    if job is None or job.finished_at is None:
        return False
    age = (timezone.now() - job.finished_at).total_seconds()
    if job.status == JobStatus.DEAD:
        return age < FAILED_COOLDOWN_SECONDS
    return job.status == JobStatus.DONE and bool(job.result.get("skipped")) and age < SKIPPED_COOLDOWN_SECONDS


def narrative_regeneration_enqueue(*, subject_type: SubjectType, subject_key: str, force: bool = False) -> bool:
    """Queue one regeneration (the subject's durable job). Without `force`, False when one is already
    queued, running or cooling down; with it (a moderator's request) it goes ahead."""
    if not force and _cooling_down(narrative_regeneration_job(subject_type=subject_type, subject_key=subject_key)):
        return False
    _, sent = job_enqueue(
        job_kind(enqueue.NARRATIVE_JOBS), key=f"{subject_type}:{subject_key}", max_attempts=REGENERATION_ATTEMPTS,
        payload={"subject_type": subject_type, "subject_key": subject_key}, force=force,
    )
    return sent


def narrative_skip_record(*, subject_type: str, subject_key: str, reason: str) -> None:
    """A skip outside a job (a command, a direct call) cools readers down too: the subject's job row
    says so, unless a job is queued or running (that one records its own outcome)."""
    key, done = f"{subject_type}:{subject_key}", {"result": {"skipped": reason}, "finished_at": timezone.now()}
    jobs = Job.objects.filter(kind=enqueue.NARRATIVE_JOBS, key=key)
    if not jobs.exclude(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).update(status=JobStatus.DONE, **done):
        Job.objects.get_or_create(kind=enqueue.NARRATIVE_JOBS, key=key, defaults={"status": JobStatus.DONE, **done})
