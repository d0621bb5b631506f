"""Durable jobs: a database row is the job (docs/architecture.md, "Durable jobs").

Import from here once Django's apps are loaded (the abstract model needs them).
"""
from __future__ import annotations

from chatter_site.lib.jobs.kinds import JobKind, job_kind, job_kind_register, job_kind_unregister, job_kinds
from chatter_site.lib.jobs.model import DurableJob, JobStatus
from chatter_site.lib.jobs.runner import (
    Claim,
    job_backoff_seconds,
    job_claim,
    job_error_text,
    job_fail,
    job_finish,
    job_heartbeat,
    job_kind_sweep,
    job_resend_deadline,
    job_retry,
    job_run,
    job_send,
    job_task_send,
    jobs_sweep,
)

__all__ = [
    "Claim",
    "DurableJob",
    "JobKind",
    "JobStatus",
    "job_backoff_seconds",
    "job_claim",
    "job_error_text",
    "job_fail",
    "job_finish",
    "job_heartbeat",
    "job_kind",
    "job_kind_register",
    "job_kind_sweep",
    "job_kind_unregister",
    "job_kinds",
    "job_resend_deadline",
    "job_retry",
    "job_run",
    "job_send",
    "job_task_send",
    "jobs_sweep",
]
