"""Reflection's jobs beyond the worker (docs/architecture.md, "Memory", reflection steps 2, 4 and 5):
explicit requests, staff actions (retry, run next) and the sweep that sends again what would be lost.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from chat.models import Room
from chatter_site.lib.jobs import job_kind, job_kind_sweep, job_retry
from memory import enqueue
from memory.mem0_client import scope_for
from memory.models import ReflectionJob
from memory.services.reflection.pending import (
    reflection_job_from_range,
    reflection_range_settle,
    reflection_range_take,
    reflection_resend_deadline,
)

log = logging.getLogger("chatter.memory.reflection")

SWEEP_FAILED_GRACE = timedelta(seconds=5)  # let the countdown message win the ordinary race


# --- explicit requests -----------------------------------


def reflection_request(
    *,
    room_slug: str,
    handle: str,
    priority: int = ReflectionJob.Priority.MODERATOR,  # type: ignore[assignment]  # a Django choice: typed as its (value, label) tuple without django-stubs
    witnessed_from_seq: int | None = None,
) -> list[ReflectionJob]:
    """An explicit request (a moderator's "reflect now"): reflect on what the scope has not yet, first.

    Takes the scope's pending range now, moves its waiting jobs to `priority`, and when there is
    neither, makes a job for the messages after the last one reflected on, from
    `witnessed_from_seq` on (the caller knows since when the persona was present; memory does not).
    """
    scope = scope_for(room_slug, handle)
    jobs: list[ReflectionJob] = []
    taken = reflection_range_take(scope, force=True, now=time.time())
    if taken is not None:
        jobs.append(reflection_range_settle(*taken, priority=priority))
    waiting = list(
        ReflectionJob.objects.filter(scope=scope, status__in=[ReflectionJob.Status.PENDING, ReflectionJob.Status.FAILED])
        .exclude(pk__in=[job.pk for job in jobs])
        .values_list("pk", flat=True)
    )
    if waiting:
        reflection_prioritize(job_ids=waiting, priority=priority)
        jobs.extend(ReflectionJob.objects.filter(pk__in=waiting))
    if not jobs and witnessed_from_seq is not None:
        covered = ReflectionJob.objects.filter(scope=scope).aggregate(last=Max("last_seq"))["last"] or 0
        room_last = Room.objects.filter(slug=room_slug).values_list("last_seq", flat=True).first() or 0
        first_seq = max(witnessed_from_seq, covered + 1)
        if first_seq <= room_last:
            item = {"scope": scope, "room": room_slug, "handle": handle, "first_seq": first_seq, "last_seq": room_last}
            job, _ = reflection_job_from_range(item, priority=priority)
            if job.status == ReflectionJob.Status.PENDING:
                enqueue.reflection_run_send(job)
            jobs.append(job)
    return jobs


# --- 4. staff actions and the sweep -------------------------------------------------------------------


def reflection_retry(*, job_ids: list[int]) -> int:
    """Dead letters and failed jobs go back to pending with a fresh set of attempts, and are sent."""
    return job_retry(job_kind(enqueue.REFLECTION_JOBS), job_ids=job_ids)


def reflection_prioritize(
    *, job_ids: list[int], priority: int = ReflectionJob.Priority.MODERATOR  # type: ignore[assignment]  # a Django choice: typed as its (value, label) tuple without django-stubs
) -> int:
    """Run these jobs next: pending, failed and dead ones become pending at `priority` and are sent
    (a dead letter also gets a fresh set of attempts)."""
    moved = 0
    for job_id in job_ids:
        now = timezone.now()
        waiting = ReflectionJob.objects.filter(
            pk=job_id, status__in=[ReflectionJob.Status.PENDING, ReflectionJob.Status.FAILED]
        ).update(status=ReflectionJob.Status.PENDING, priority=priority, leased_until=None, next_attempt_at=reflection_resend_deadline(now))
        dead = waiting or ReflectionJob.objects.filter(pk=job_id, status=ReflectionJob.Status.DEAD).update(
            status=ReflectionJob.Status.PENDING, priority=priority, attempts=0, last_error="", leased_until=None,
            finished_at=None, next_attempt_at=reflection_resend_deadline(now),
        )
        if waiting or dead:
            moved += 1
            enqueue.reflection_run_send(ReflectionJob.objects.get(pk=job_id))
    return moved


def reflection_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """The durable-job sweep (beat `jobs-sweep`) for reflection jobs: expired leases (dead on the last
    attempt), failed jobs past their retry time and pending ones nobody started are sent again."""
    return job_kind_sweep(job_kind(enqueue.REFLECTION_JOBS), now=now)
