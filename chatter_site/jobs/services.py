"""Enqueueing generic jobs (the logic of running them is chatter_site.lib.jobs)."""
from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from chatter_site.jobs.models import Job
from chatter_site.lib.correlation import current_correlation_id
from chatter_site.lib.jobs import JobKind, JobStatus, job_resend_deadline, job_send

GENERIC_TASK = "chatter_site.jobs.tasks.job_run_task"


def job_enqueue(
    kind: JobKind,
    *,
    key: str,
    payload: dict[str, Any] | None = None,
    max_attempts: int = 3,
    rearm: bool = True,
    force: bool = False,
) -> tuple[Job, bool]:
    """The job of `kind` and `key`, sent when it was made or re-armed. Returns (job, sent).

    An existing pending, running or failed job is already on its way (sent is False); a done or dead
    one starts again when `rearm`, with the new payload. `force` (a moderator's request) also
    re-arms a failed one and sends a pending one again. Sent at once, not on commit: a worker that
    does not see the row yet skips, and the sweep sends it again at its re-send deadline.
    """
    now = timezone.now()
    fields = {
        "payload": payload or {}, "max_attempts": max_attempts, "correlation_id": current_correlation_id() or "",
        "next_attempt_at": job_resend_deadline(kind, now),
    }
    try:
        with transaction.atomic():
            job, created = Job.objects.get_or_create(kind=kind.name, key=key, defaults=fields)
    except IntegrityError:  # a racing enqueue made it first
        job, created = Job.objects.get(kind=kind.name, key=key), False
    if not created:
        again = [JobStatus.DONE, JobStatus.DEAD, *([JobStatus.FAILED] if force else [])]
        rearmed = rearm and Job.objects.filter(pk=job.pk, status__in=again).update(
            status=JobStatus.PENDING, attempts=0, last_error="", leased_until=None, finished_at=None, result={}, **fields
        )
        if not rearmed and not (force and job.status == JobStatus.PENDING):
            return job, False
        job.refresh_from_db()
    job_send(kind, job)
    return job, True
