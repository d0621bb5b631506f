"""Moderation of scribe documents. Content changes go through the document page's edit form (it
checks the version an edit was based on); here: start/stop, style, and the revision record."""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from scribe import services
from scribe.models import ScribeDocument, ScribeRevision


class ScribeRevisionInline(admin.TabularInline):
    model = ScribeRevision
    extra = 0
    can_delete = False
    ordering = ["-version"]
    fields = ("version", "kind", "message_range", "turns", "created_by", "created_at", "storage_key", "sha256")
    readonly_fields = fields
    show_change_link = False
    max_num = 0

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(ScribeDocument)
class ScribeDocumentAdmin(admin.ModelAdmin):
    list_display = ("title", "room", "style", "enabled", "status", "version", "cursor_seq", "updated_at", "page_link")
    list_filter = ("enabled", "status", "style", "room")
    search_fields = ("title", "slug", "room__slug")
    fields = (
        "title", "slug", "room", "conversation", "style", "enabled", "status", "version", "cursor_seq",
        "updated_at", "last_error", "last_error_at", "created_by", "created_at", "page_link",
    )
    readonly_fields = (
        "title", "slug", "room", "conversation", "enabled", "status", "version", "cursor_seq", "updated_at",
        "last_error", "last_error_at", "created_by", "created_at", "page_link",
    )
    inlines = [ScribeRevisionInline]
    actions = ["stop_scribes", "start_scribes_catch_up", "start_scribes_from_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # started from a room page (or POST /api/scribe/start), which stores version 1

    @admin.display(description="Page")
    def page_link(self, obj: ScribeDocument) -> str:
        if not obj.pk:
            return "-"
        url = reverse("scribe-document", kwargs={"key": obj.slug})
        return format_html('<a href="{}">open</a> · <a href="{}edit/">edit</a>', url, url)

    def _toggle(self, request: HttpRequest, queryset: QuerySet, *, enabled: bool, catch_up: bool) -> None:
        for document in queryset:
            services.document_toggle(document_id=document.pk, enabled=enabled, catch_up=catch_up, user=request.user)
        self.message_user(request, f"{queryset.count()} scribe(s) {'started' if enabled else 'stopped'}.", messages.SUCCESS)

    @admin.action(permissions=["change"], description="Stop the selected scribes")
    def stop_scribes(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._toggle(request, queryset, enabled=False, catch_up=True)

    @admin.action(permissions=["change"], description="Start the selected scribes, folding in what they missed")
    def start_scribes_catch_up(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._toggle(request, queryset, enabled=True, catch_up=True)

    @admin.action(permissions=["change"], description="Start the selected scribes from now (skip what they missed)")
    def start_scribes_from_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        self._toggle(request, queryset, enabled=True, catch_up=False)

    def delete_model(self, request: HttpRequest, obj: ScribeDocument) -> None:
        room_slug, document_id = obj.room.slug, obj.pk
        super().delete_model(request, obj)
        services.document_forget(document_id=document_id, room_slug=room_slug)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        gone = list(queryset.values_list("pk", "room__slug"))
        super().delete_queryset(request, queryset)
        for document_id, room_slug in gone:
            services.document_forget(document_id=document_id, room_slug=room_slug)


@admin.register(ScribeRevision)
class ScribeRevisionAdmin(admin.ModelAdmin):
    list_display = ("document", "version", "kind", "message_range", "turns", "llm_ms", "overhead_ms", "created_at")
    list_filter = ("kind",)
    search_fields = ("document__title", "document__slug", "correlation_id")
    readonly_fields = [f.name for f in ScribeRevision._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
