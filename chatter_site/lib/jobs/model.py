"""The abstract job row: what every durable job has (docs/architecture.md, "Durable jobs").

Abstract, so lib defines no table and needs no app: an app's concrete model inherits it (the
generic `jobs.Job`, or a job with columns of its own such as memory's ReflectionJob).
"""
from __future__ import annotations

from django.db import models


class JobStatus(models.TextChoices):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed", "Failed, will retry"
    DEAD = "dead", "Dead letter"


class DurableJob(models.Model):
    """A unit of work whose row is the truth: claimed with a conditional UPDATE under a lease."""

    status = models.CharField(max_length=8, choices=JobStatus.choices, default=JobStatus.PENDING, db_index=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField(default=3)
    last_error = models.TextField(blank=True)
    # The running attempt's lease; its value is also that attempt's token (finish and fail check it).
    leased_until = models.DateTimeField(null=True, blank=True)
    # FAILED: when the retry is due. PENDING: when the sweep sends it again if nobody started it.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    correlation_id = models.CharField(max_length=40, blank=True)

    class Meta:
        abstract = True
