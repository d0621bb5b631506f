"""Admin for generic durable jobs: staff read them, filter the dead letters and retry."""
from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from chatter_site.jobs.models import Job
from chatter_site.lib.jobs import JobStatus, job_kind, job_retry

ERROR_EXCERPT = 80


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "key", "status", "attempts", "max_attempts", "created_at", "next_attempt_at", "error_short")
    list_filter = ("kind", "status")
    search_fields = ("key", "last_error")
    ordering = ("-created_at",)
    actions = ("retry",)
    readonly_fields = [field.name for field in Job._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs are made by the pipeline only

    @admin.display(description="Last error")
    def error_short(self, job: Job) -> str:
        return job.last_error[:ERROR_EXCERPT]

    @admin.action(description="Retry (dead or failed → pending, fresh attempts)")
    def retry(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        revived = 0
        by_kind: dict[str, list[int]] = {}
        for job_id, kind in queryset.filter(status__in=[JobStatus.DEAD, JobStatus.FAILED]).values_list("pk", "kind"):
            by_kind.setdefault(kind, []).append(job_id)
        for kind, ids in by_kind.items():
            try:
                revived += job_retry(job_kind(kind), job_ids=ids)
            except KeyError:
                continue
        self.message_user(request, f"{revived} job(s) sent again.")
