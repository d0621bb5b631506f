"""Admin for conversation memories and narratives; registered on import by memory/admin/."""
from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from memory.models import ConversationMemory, Narrative
from memory.services.narratives import NARRATIVE_MAX_CHARS, narrative_moderator_edit, narrative_regeneration_enqueue

EXCERPT = 120


def _pretty_json(value) -> str:
    return format_html(
        '<pre style="white-space: pre-wrap; max-width: 900px; margin: 0;">{}</pre>',
        json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False),
    )


@admin.register(ConversationMemory)
class ConversationMemoryAdmin(admin.ModelAdmin):
    class Media:
        css = {"all": ("memory/admin.css",)}

    list_display = ("conversation_id", "room", "conversation_span", "summary_excerpt", "covered_last_seq", "updated_at")
    list_display_links = ("conversation_id", "summary_excerpt")
    list_filter = (("conversation__room", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("conversation__room",)
    search_fields = ("conversation__room__slug", "data__summary")
    date_hierarchy = "updated_at"
    ordering = ("-updated_at",)
    fields = ("conversation", "room", "conversation_span", "covered_last_seq", "created_at", "updated_at", "data_pretty")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by the batch job only (generate_memories)

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(description="room", ordering="conversation__room__slug")
    def room(self, obj: ConversationMemory) -> str:
        return obj.conversation.room.slug

    @admin.display(description="seq")
    def conversation_span(self, obj: ConversationMemory) -> str:
        return f"{obj.conversation.first_seq}–{obj.conversation.last_seq}"

    @admin.display(description="summary")
    def summary_excerpt(self, obj: ConversationMemory) -> str:
        summary = str((obj.data or {}).get("summary", "")) if isinstance(obj.data, dict) else ""
        return summary if len(summary) <= EXCERPT else summary[: EXCERPT - 1] + "…"

    @admin.display(description="memory (JSON)")
    def data_pretty(self, obj: ConversationMemory) -> str:
        return _pretty_json(obj.data)


class NarrativeForm(forms.ModelForm):
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 12}), max_length=NARRATIVE_MAX_CHARS, strip=True)

    class Meta:
        model = Narrative
        fields = ("text",)


@admin.register(Narrative)
class NarrativeAdmin(admin.ModelAdmin):
    form = NarrativeForm
    class Media:
        css = {"all": ("memory/admin.css",)}

    list_display = ("subject", "subject_type", "generated_at", "age", "source_count", "text_excerpt")
    list_filter = ("subject_type",)
    search_fields = ("subject_key", "text")
    ordering = ("subject_type", "subject_key")
    fields = ("subject_type", "subject_key", "text", "source_count", "generated_at", "edited_by", "edited_at", "correlation_id")
    readonly_fields = ("subject_type", "subject_key", "source_count", "generated_at", "edited_by", "edited_at", "correlation_id")
    actions = ("regenerate",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # written by regeneration only

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # the next read would only write it again

    def save_model(self, request: HttpRequest, obj: Narrative, form, change: bool) -> None:
        # The text only, through the service: it becomes the moderator's version (cache updated,
        # kept by regeneration until stale). Nothing else on the row is editable.
        narrative_moderator_edit(narrative_id=obj.pk, text=form.cleaned_data["text"], user=request.user)

    @admin.display(description="subject", ordering="subject_key")
    def subject(self, obj: Narrative) -> str:
        return f"@{obj.subject_key}"

    @admin.display(description="age", ordering="generated_at")
    def age(self, obj: Narrative) -> str:
        return timesince(obj.generated_at, timezone.now())

    @admin.display(description="text")
    def text_excerpt(self, obj: Narrative) -> str:
        return obj.text if len(obj.text) <= EXCERPT else obj.text[: EXCERPT - 1] + "…"

    def has_regenerate_permission(self, request: HttpRequest) -> bool:
        # Each regeneration is an LLM call: moderators granted "Can change narrative", not any staff.
        return request.user.has_perm("memory.change_narrative")

    @admin.action(permissions=["regenerate"], description="Regenerate the selected narratives (in the background)")
    def regenerate(self, request: HttpRequest, queryset: QuerySet[Narrative]) -> None:
        sent = 0
        for subject_type, subject_key in queryset.values_list("subject_type", "subject_key"):
            # A moderator's request goes ahead even while a failed attempt cools down.
            narrative_regeneration_enqueue(subject_type=subject_type, subject_key=subject_key, force=True)
            sent += 1
        self.message_user(request, f"{sent} narrative regeneration{'s' if sent != 1 else ''} enqueued.", messages.SUCCESS)
