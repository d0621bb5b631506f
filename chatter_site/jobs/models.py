"""The generic durable job: kinds without columns of their own keep their input in `payload`."""
from __future__ import annotations

from django.db import models

from chatter_site.lib.jobs import DurableJob


class Job(DurableJob):
    """One job of a registered kind (chatter_site.lib.jobs.kinds); `key` makes enqueueing idempotent."""

    kind = models.CharField(max_length=40, db_index=True)
    key = models.CharField(max_length=200)
    payload = models.JSONField(default=dict, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="jobs_job_kind_key_unique")]
        indexes = [models.Index(fields=["kind", "status"], name="jobs_job_kind_status")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.status})"
