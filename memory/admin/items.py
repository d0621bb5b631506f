"""Admin for personas' memories (the MemoryItem ledger); registered on import by memory/admin/.

Moderators browse, rewrite (`memory_moderator_edit`: a new memory supersedes the old) and delete
(every path goes through `memory_delete`, so the memory leaves Mem0 too); nobody adds here.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from chatter_site.lib.errors import ChatterError
from memory.models import MemoryItem
from memory.selectors import memory_history
from memory.services.store import memory_delete, memory_moderator_edit

TEXT_EXCERPT = 90


def _short_time(value: datetime | None) -> str:
    """'2026-12-06 20:43': the admin's default 'Dec. 6, 2026, 8:43 p.m.' squeezed the text column."""
    return f"{timezone.localtime(value):%Y-%m-%d %H:%M}" if value else "—"


@admin.register(MemoryItem)
class MemoryItemAdmin(admin.ModelAdmin):
    list_display = ("scope", "kind", "text_short", "other_user", "confidence", "status", "created", "last_used")
    list_display_links = ("scope", "text_short")
    list_filter = ("kind", "status", "confidence", "room_slug", "handle")
    search_fields = ("text", "other_user", "handle")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ("delete_memories",)

    class Media:
        css = {"all": ("memory/admin.css",)}  # the text column gets the room (a 1366 px window)

    fieldsets = (
        (None, {"fields": ("scope", "room_slug", "handle", "kind", "text", "other_user", "subject", "confidence", "status")}),
        ("History", {"fields": ("edit_link", "history", "superseded_by")}),
        ("Bookkeeping", {"fields": ("mem0_id", "dedupe_key", "source_job", "created_at", "updated_at", "last_used_at")}),
    )
    readonly_fields = (
        "scope", "room_slug", "handle", "kind", "text", "other_user", "subject", "confidence", "status", "edit_link", "history",
        "superseded_by", "mem0_id", "dedupe_key", "source_job", "created_at", "updated_at", "last_used_at",
    )

    # -- read-only: written by reflection, deleted through memory_delete only --

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: MemoryItem | None = None) -> bool:
        return False

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # it would bypass Mem0; delete_memories replaces it
        return actions

    # -- columns and fields --

    @admin.display(description="created", ordering="created_at")
    def created(self, item: MemoryItem) -> str:
        return _short_time(item.created_at)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, item: MemoryItem) -> str:
        return _short_time(item.last_used_at)

    @admin.display(description="text")
    def text_short(self, item: MemoryItem) -> str:
        return item.text if len(item.text) <= TEXT_EXCERPT else item.text[: TEXT_EXCERPT - 1] + "…"

    @admin.display(description="supersede history (oldest first)")
    def history(self, item: MemoryItem) -> str:
        chain = memory_history(item=item)
        if len(chain) == 1:
            return "No other version: this memory replaced nothing and nothing replaced it."
        rows = format_html_join(
            "",
            '<tr{}><td><a href="{}">#{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    mark_safe(' style="font-weight:bold"') if entry.pk == item.pk else "",
                    reverse("admin:memory_memoryitem_change", args=[entry.pk]),
                    entry.pk,
                    entry.created_at.strftime("%Y-%m-%d %H:%M"),
                    entry.get_status_display(),
                    entry.get_confidence_display(),
                    entry.text,
                )
                for entry in chain
            ),
        )
        return format_html(
            "<table><thead><tr><th>memory</th><th>created</th><th>status</th><th>confidence</th><th>text</th></tr>"
            "</thead><tbody>{}</tbody></table>",
            rows,
        )

    # -- editing goes through memory_moderator_edit (a new memory supersedes the old one) --

    def get_urls(self):
        custom = [path("<path:object_id>/edit/", self.admin_site.admin_view(self.edit_view), name="memory_memoryitem_edit")]
        return custom + super().get_urls()

    @admin.display(description="edit")
    def edit_link(self, obj: MemoryItem) -> str:
        if obj.pk is None or obj.status != MemoryItem.Status.ACTIVE:
            return "—"
        return format_html('<a href="{}">Rewrite this memory</a>', reverse("admin:memory_memoryitem_edit", args=[obj.pk]))

    def edit_view(self, request: HttpRequest, object_id: str):
        item = get_object_or_404(MemoryItem, pk=object_id)
        if not request.user.has_perm("memory.change_memoryitem"):
            raise PermissionDenied
        error = ""
        text = item.text
        if request.method == "POST":
            text = request.POST.get("text", "")
            try:
                new = memory_moderator_edit(item=item, text=text)
            except ChatterError as refused:
                error = refused.message
            else:
                self.message_user(request, "The memory was rewritten; the old text is kept as history.", messages.SUCCESS)
                return redirect("admin:memory_memoryitem_change", new.pk)
        context = {
            **self.admin_site.each_context(request), "opts": self.model._meta, "item": item, "text": text,
            "error": error, "title": f"Rewrite memory {item.pk}",
        }
        return TemplateResponse(request, "admin/memory/memoryitem_edit.html", context, status=400 if error else 200)

    # -- deleting goes through memory_delete --

    @admin.action(permissions=["delete"], description="Delete selected memories (removed from the persona's memory, kept as history)")
    def delete_memories(self, request: HttpRequest, queryset: QuerySet[MemoryItem]) -> None:
        deleted, pending = self._delete_all(queryset)
        if deleted:
            self.message_user(request, f"Deleted {deleted} memor{'y' if deleted == 1 else 'ies'}.", messages.SUCCESS)
        if pending:
            self.message_user(
                request,
                f"{pending} marked deleted, but the vector store could not be reached to remove them: "
                "they no longer reach any persona; delete them again later to finish.",
                messages.WARNING,
            )

    def delete_model(self, request: HttpRequest, obj: MemoryItem) -> None:
        try:
            memory_delete(item=obj)
        except ChatterError as error:
            self.message_user(request, error.message, messages.WARNING)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[MemoryItem]) -> None:
        self.delete_memories(request, queryset)

    def _delete_all(self, queryset: QuerySet[MemoryItem]) -> tuple[int, int]:
        deleted = pending = 0
        for item in queryset:
            try:
                memory_delete(item=item)
                deleted += 1
            except ChatterError:
                pending += 1
        return deleted, pending
