"""Claim, run, fail, retry and sweep durable jobs (docs/architecture.md, "Durable jobs").

Every state change is a conditional UPDATE on the job row, so two workers, a worker and the
sweep, or two sweeps racing each other change a job at most once. Celery carries the job id only.
"""
from __future__ import annotations

import importlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from celery import current_app
from django.db.models import F, Q
from django.utils import timezone

from chatter_site.lib.console_events import console_event
from chatter_site.lib.correlation import bind_correlation_id, new_correlation_id
from chatter_site.lib.jobs.kinds import JobKind, job_kinds, setting_value
from chatter_site.lib.jobs.model import JobStatus
from chatter_site.lib.metrics import counter

log = logging.getLogger("chatter.jobs")

JOB_RUNS = counter("chatter_job_runs_total", "Durable job attempts by kind and outcome", ("kind", "outcome"))
JOB_SWEPT = counter("chatter_job_swept_total", "Durable jobs the sweep changed, by kind and what it did", ("kind", "action"))

CLAIM_CLOCK_TOLERANCE = timedelta(seconds=1)  # a countdown may land a hair before next_attempt_at
SWEEP_FAILED_GRACE = timedelta(seconds=5)  # let the countdown message win the ordinary race


@dataclass(frozen=True)
class Claim:
    """One attempt of a job: the row as claimed and the lease that is this attempt's token."""

    kind: JobKind
    job: Any
    leased_until: datetime

    def mine(self) -> Any:
        """The row, only while this attempt still holds it (for conditional updates)."""
        return self.kind.rows().filter(pk=self.job.pk, status=JobStatus.RUNNING, leased_until=self.leased_until)


def job_send(kind: JobKind, job: Any, *, countdown: float | None = None) -> bool:
    """Put one attempt of the job on its queue. The row is the truth: a lost send is the sweep's."""
    if kind.send is not None:
        return kind.send(job, countdown=countdown)
    return job_task_send(kind, job, countdown=countdown)


def job_task_send(kind: JobKind, job: Any, *, countdown: float | None = None) -> bool:
    """The default send: the kind's task with the job id, on the kind's queue (a `send` hook may call it)."""
    options: dict[str, Any] = dict(kind.send_options(job)) if kind.send_options else {}
    if kind.queue and "queue" not in options:
        options["queue"] = kind.queue
    if countdown:
        options["countdown"] = countdown
    try:
        _task(kind.task).apply_async(args=[job.pk], **options)
    except Exception:
        log.exception("%s send failed job=%s", kind.title, job.pk)
        return False
    return True


def _task(name: str) -> Any:
    """The task object by name, importing its module (outside a worker, autodiscovery is lazy)."""
    if name not in current_app.tasks:
        importlib.import_module(name.rpartition(".")[0])
    return current_app.tasks[name]


def job_resend_deadline(kind: JobKind, now: datetime) -> datetime:
    """For a pending job: when the sweep sends it again if no worker has started it by then."""
    return now + timedelta(seconds=setting_value(kind.lease_seconds))


def job_claim(kind: JobKind, *, job_id: int, now: datetime | None = None) -> Claim | None:
    """Take the job for one attempt, or None (gone, done, dead, running elsewhere, not due yet)."""
    now = now or timezone.now()
    leased_until = now + timedelta(seconds=setting_value(kind.lease_seconds))
    due = Q(status=JobStatus.PENDING) | Q(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now + CLAIM_CLOCK_TOLERANCE), status=JobStatus.FAILED
    )
    claimed = kind.rows().filter(due, Q(leased_until__isnull=True) | Q(leased_until__lte=now), pk=job_id).update(
        status=JobStatus.RUNNING, leased_until=leased_until, attempts=F("attempts") + 1, started_at=now
    )
    if not claimed:
        return None
    return Claim(kind=kind, job=kind.rows().get(pk=job_id), leased_until=leased_until)


def job_heartbeat(claim: Claim, *, now: datetime | None = None) -> Claim | None:
    """Extend the lease of a long attempt; None when it was lost (the sweep or another run took it)."""
    now = now or timezone.now()
    leased_until = now + timedelta(seconds=setting_value(claim.kind.lease_seconds))
    if not claim.mine().update(leased_until=leased_until):
        return None
    return Claim(kind=claim.kind, job=claim.job, leased_until=leased_until)


def job_finish(claim: Claim, **fields: Any) -> bool:
    """DONE, with the kind's own result columns; False when the lease was lost meanwhile."""
    return bool(
        claim.mine().update(
            status=JobStatus.DONE, finished_at=timezone.now(), leased_until=None, next_attempt_at=None, **fields
        )
    )


def job_backoff_seconds(kind: JobKind, attempts: int) -> float:
    """Exponential from the kind's base, plus up to `backoff_jitter` of it so a burst spreads out."""
    base = setting_value(kind.backoff_seconds) * 2 ** max(attempts - 1, 0)
    return base * (1 + random.random() * kind.backoff_jitter)


def job_fail(claim: Claim, *, error: str, retry: bool = True) -> str:
    """FAILED and sent again after a backoff, or DEAD after the last attempt (or when not `retry`)."""
    kind, job = claim.kind, claim.job
    now = timezone.now()
    if not retry or job.attempts >= job.max_attempts:
        claim.mine().update(status=JobStatus.DEAD, last_error=error, leased_until=None, next_attempt_at=None, finished_at=now)
        log.error("%s dead job=%s attempts=%s error=%s", kind.title, job.pk, job.attempts, error)
        console_event(
            "dead letter: %s job %s failed %s times (%s); retry it in admin", kind.title, job.pk, job.attempts, error[:120]
        )
        return "dead"
    delay = job_backoff_seconds(kind, job.attempts)
    updated = claim.mine().update(
        status=JobStatus.FAILED, last_error=error, leased_until=None, next_attempt_at=now + timedelta(seconds=delay)
    )
    if updated:
        job_send(kind, job, countdown=delay)
    log.warning(
        "%s failed job=%s attempt=%s/%s retry_in=%.1fs error=%s", kind.title, job.pk, job.attempts, job.max_attempts, delay, error
    )
    return "failed"


def job_error_text(exc: BaseException) -> str:
    code, message = getattr(exc, "code", None), getattr(exc, "message", None)
    if code and message:
        return f"{code}: {message}"
    return f"{type(exc).__name__}: {exc}"[:2000]


def job_run(kind: JobKind, *, job_id: int, work: Callable[[Claim], dict[str, Any] | None]) -> str:
    """One attempt: claim, `work` (its dict becomes result columns of the DONE row), finish or fail.

    Returns done | failed | dead | skipped (not claimable). `work` must be idempotent: delivery is
    at least once, and a lost lease lets another attempt start.
    """
    claim = job_claim(kind, job_id=job_id)
    if claim is None:
        JOB_RUNS.labels(kind=kind.name, outcome="skipped").inc()
        return "skipped"
    bind_correlation_id(claim.job.correlation_id or new_correlation_id())
    try:
        try:
            result = work(claim) or {}
        except kind.transient as exc:
            if not isinstance(exc, Exception):
                raise
            log.warning("%s attempt failed job=%s", kind.title, job_id, exc_info=not hasattr(exc, "code"))
            outcome = job_fail(claim, error=job_error_text(exc))
        except Exception as exc:  # not a named transient error: retrying would fail the same way
            log.exception("%s crashed job=%s", kind.title, job_id)
            outcome = job_fail(claim, error=job_error_text(exc), retry=False)
        else:
            if not job_finish(claim, **result):
                log.warning("%s lease lost job=%s: the run that reclaimed it finishes it", kind.title, job_id)
            outcome = "done"
    finally:
        bind_correlation_id(None)  # a pooled worker process runs other tasks next
    JOB_RUNS.labels(kind=kind.name, outcome=outcome).inc()
    return outcome


def job_retry(kind: JobKind, *, job_ids: list[int]) -> int:
    """Staff: dead letters and failed jobs go back to pending with a fresh set of attempts, and are sent."""
    revived = 0
    for job_id in job_ids:
        updated = kind.rows().filter(pk=job_id, status__in=[JobStatus.DEAD, JobStatus.FAILED]).update(
            status=JobStatus.PENDING, attempts=0, last_error="", leased_until=None, finished_at=None,
            next_attempt_at=job_resend_deadline(kind, timezone.now()),
        )
        if updated:
            revived += 1
            job_send(kind, kind.rows().get(pk=job_id))
    return revived


def job_kind_sweep(kind: JobKind, *, now: datetime | None = None) -> dict[str, int]:
    """Send again what would otherwise be lost.

    - running jobs whose lease expired (the worker died): pending again, or dead when that was the
      last attempt (a job that keeps killing workers must not loop forever);
    - failed jobs past their retry time (the countdown message was lost): pending again;
    - pending jobs nobody started before their re-send deadline (their message was lost).
    """
    now = now or timezone.now()
    rows = kind.rows()
    counts = {"lost": 0, "dead": 0, "retried": 0, "resent": 0}
    for job in rows.filter(status=JobStatus.RUNNING, leased_until__lte=now):
        error = f"worker lost during attempt {job.attempts} (lease expired)"
        expired = rows.filter(pk=job.pk, status=JobStatus.RUNNING, leased_until=job.leased_until)
        if job.attempts >= job.max_attempts:
            counts["dead"] += expired.update(
                status=JobStatus.DEAD, last_error=error, leased_until=None, next_attempt_at=None, finished_at=now
            )
        elif expired.update(
            status=JobStatus.PENDING, last_error=error, leased_until=None, next_attempt_at=job_resend_deadline(kind, now)
        ):
            counts["lost"] += 1
            job_send(kind, job)
    for job in rows.filter(status=JobStatus.FAILED, next_attempt_at__lte=now - SWEEP_FAILED_GRACE):
        if rows.filter(pk=job.pk, status=JobStatus.FAILED, next_attempt_at=job.next_attempt_at).update(
            status=JobStatus.PENDING, next_attempt_at=job_resend_deadline(kind, now)
        ):
            counts["retried"] += 1
            job_send(kind, job)
    stale = Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now)
    for job in rows.filter(stale, status=JobStatus.PENDING):
        if rows.filter(pk=job.pk, status=JobStatus.PENDING, next_attempt_at=job.next_attempt_at).update(
            next_attempt_at=job_resend_deadline(kind, now)
        ):
            counts["resent"] += 1
            job_send(kind, job)
    for action, value in counts.items():
        if value:
            JOB_SWEPT.labels(kind=kind.name, action=action).inc(value)
    if counts["dead"]:
        console_event(
            "dead letter: %s %s job(s) lost their worker on their last attempt; retry them in admin", counts["dead"], kind.title
        )
    if any(counts.values()):
        log.warning("%s sweep %s", kind.title, " ".join(f"{key}={value}" for key, value in counts.items()))
    return counts


def jobs_sweep(*, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """The one sweep: every registered kind, each on its own (one failing kind does not stop the rest)."""
    results: dict[str, dict[str, int]] = {}
    for kind in job_kinds():
        try:
            results[kind.name] = job_kind_sweep(kind, now=now)
        except Exception:
            log.exception("%s sweep failed", kind.title)
    return results
