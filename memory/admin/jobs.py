"""Admin for reflection jobs and their dead letters; registered on import by memory/admin/.

Jobs are written by the pipeline only; staff read them and act through two actions: "retry"
(dead or failed → pending with a fresh set of attempts) and "run now at moderator priority". The
dead letters are the list filtered on status "dead" (a button on the list, and /dead-letters/).
"""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from memory.models import ReflectionJob
from memory.services.reflection import reflection_prioritize, reflection_retry

ERROR_EXCERPT = 80


@admin.register(ReflectionJob)
class ReflectionJobAdmin(admin.ModelAdmin):
    list_display = (
        "id", "scope", "status", "priority", "attempts_of", "seq_range", "memories_written", "created_at",
        "next_attempt_at", "error_short",
    )
    list_display_links = ("id", "scope")
    list_filter = ("status", "priority")
    search_fields = ("scope", "last_error", "idempotency_key")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ("retry", "run_now")
    fields = (
        "scope", "room_slug", "handle", "status", "priority", "first_seq", "last_seq", "idempotency_key", "attempts",
        "max_attempts", "last_error", "leased_until", "next_attempt_at", "created_at", "started_at", "finished_at",
        "memories_written", "folded_into", "correlation_id",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # jobs come from witnessed chat and moderators' "reflect now" only

    def has_delete_permission(self, request: HttpRequest, obj: ReflectionJob | None = None) -> bool:
        return False  # a dead letter is evidence: retry it, do not make it disappear

    # --- columns ---

    @admin.display(description="attempts", ordering="attempts")
    def attempts_of(self, job: ReflectionJob) -> str:
        return f"{job.attempts}/{job.max_attempts}"

    @admin.display(description="seqs", ordering="first_seq")
    def seq_range(self, job: ReflectionJob) -> str:
        return f"{job.first_seq}–{job.last_seq}"

    @admin.display(description="last error")
    def error_short(self, job: ReflectionJob) -> str:
        if not job.last_error:
            return ""
        short = job.last_error if len(job.last_error) <= ERROR_EXCERPT else job.last_error[: ERROR_EXCERPT - 1] + "…"
        return format_html('<span title="{}">{}</span>', job.last_error, short)

    # --- actions ---

    @admin.action(permissions=["change"], description="Retry selected dead or failed jobs (fresh attempts)")
    def retry(self, request: HttpRequest, queryset: QuerySet[ReflectionJob]) -> None:
        ids = list(queryset.filter(status__in=[ReflectionJob.Status.DEAD, ReflectionJob.Status.FAILED]).values_list("pk", flat=True))
        revived = reflection_retry(job_ids=ids)
        skipped = queryset.count() - revived
        self.message_user(
            request,
            f"{revived} job(s) back in the queue." + (f" {skipped} skipped (only dead or failed jobs are retried)." if skipped else ""),
        )

    @admin.action(permissions=["change"], description="Run selected jobs now, at moderator priority")
    def run_now(self, request: HttpRequest, queryset: QuerySet[ReflectionJob]) -> None:
        waiting = [ReflectionJob.Status.PENDING, ReflectionJob.Status.FAILED, ReflectionJob.Status.DEAD]
        moved = reflection_prioritize(job_ids=list(queryset.filter(status__in=waiting).values_list("pk", flat=True)))
        skipped = queryset.count() - moved
        self.message_user(
            request,
            f"{moved} job(s) sent at moderator priority."
            + (f" {skipped} skipped (running, done or folded jobs need nothing)." if skipped else ""),
        )

    # --- the dead letters ---

    def get_urls(self):
        own = [
            path(
                "dead-letters/",
                self.admin_site.admin_view(self.dead_letters_view),
                name="memory_reflectionjob_dead_letters",
            ),
        ]
        return own + super().get_urls()

    def dead_letters_view(self, request: HttpRequest) -> HttpResponse:
        changelist = reverse("admin:memory_reflectionjob_changelist")
        return HttpResponseRedirect(f"{changelist}?status__exact={ReflectionJob.Status.DEAD}")

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> TemplateResponse:
        extra = {
            "dead_letters_count": ReflectionJob.objects.filter(status=ReflectionJob.Status.DEAD).count(),
            "dead_letters_url": reverse("admin:memory_reflectionjob_dead_letters"),
            **(extra_context or {}),
        }
        return super().changelist_view(request, extra_context=extra)
