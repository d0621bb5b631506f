"""Celery entry points of durable jobs: one attempt of a generic job by id, and the one sweep."""
from __future__ import annotations

import logging

from celery import shared_task

from chatter_site.jobs.models import Job
from chatter_site.lib.jobs import job_kind, job_run, jobs_sweep

log = logging.getLogger("chatter.jobs")


@shared_task(ignore_result=True, acks_late=True)
def job_run_task(job_id: int) -> str:
    """One attempt of a generic job; a second delivery finds it not claimable and returns quietly."""
    kind_name = Job.objects.filter(pk=job_id).values_list("kind", flat=True).first()
    if kind_name is None:
        return "skipped"
    try:
        kind = job_kind(kind_name)
    except KeyError:
        log.warning("job ignored: kind %r is not registered in this process job=%s", kind_name, job_id)
        return "skipped"
    assert kind.work is not None, f"kind {kind.name} has no work for the generic task"
    return job_run(kind, job_id=job_id, work=kind.work)


@shared_task(ignore_result=True)
def jobs_sweep_task() -> dict[str, dict[str, int]]:
    """Beat `jobs-sweep`: expired leases, due retries and forgotten pending jobs of every kind."""
    return jobs_sweep()
