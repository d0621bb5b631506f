"""Moderator screens for rooms, messages, conversations, the blocklist and safety decisions."""
from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from chat.models import BlockedTerm, Conversation, Message, Room, SafetyAction
from chat.selectors import blocked_rules_invalidate, viewers_count


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "is_live", "slow_mode_seconds", "last_seq", "viewers", "created_at")
    list_filter = ("is_live",)
    list_editable = ("is_live", "slow_mode_seconds")
    search_fields = ("title", "slug")
    prepopulated_fields = {"slug": ("title",)}
    readonly_fields = ("last_seq", "created_at")
    actions = ("go_live", "go_offline")

    @admin.display(description="viewers now")
    def viewers(self, room: Room) -> int | str:
        try:
            return viewers_count(room_slug=room.slug)
        except Exception:
            return "?"

    @admin.action(description="Mark selected rooms live")
    def go_live(self, request, queryset) -> None:
        self.message_user(request, f"{queryset.update(is_live=True)} room(s) are live.")

    @admin.action(description="Mark selected rooms offline")
    def go_offline(self, request, queryset) -> None:
        self.message_user(request, f"{queryset.update(is_live=False)} room(s) are offline.")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("seq", "room", "coloured_author", "origin", "short_text", "flag_list", "created_at")
    list_filter = ("room", "origin", "created_at")
    search_fields = ("text", "author_name", "client_id", "correlation_id")
    list_select_related = ("room",)
    readonly_fields = [field.name for field in Message._meta.fields]
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    list_per_page = 100

    def has_add_permission(self, request) -> bool:
        return False  # messages enter through the gateway only (safety, seq, broadcast)

    @admin.display(description="author", ordering="author_name")
    def coloured_author(self, message: Message) -> str:
        return format_html('<b style="color:{}">{}</b>', message.author_color, message.author_name)

    @admin.display(description="text")
    def short_text(self, message: Message) -> str:
        return message.text if len(message.text) <= 80 else message.text[:79] + "…"

    @admin.display(description="flags")
    def flag_list(self, message: Message) -> str:
        return ", ".join(message.flags)


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ("id", "room", "started_at", "last_message_at", "ended_at", "first_seq", "last_seq", "message_count")
    list_filter = ("room", ("ended_at", admin.EmptyFieldListFilter))
    readonly_fields = [field.name for field in Conversation._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(BlockedTerm)
class BlockedTermAdmin(admin.ModelAdmin):
    list_display = ("term", "match", "action", "enabled", "note", "updated_at")
    list_filter = ("match", "action", "enabled")
    list_editable = ("enabled",)
    search_fields = ("term", "note")

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        blocked_rules_invalidate()  # this process at once; the others within a few seconds


@admin.register(SafetyAction)
class SafetyActionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "room", "action", "origin", "author_key", "reason_list", "message")
    list_filter = ("action", "origin", "room")
    search_fields = ("author_key", "correlation_id")
    readonly_fields = [field.name for field in SafetyAction._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.display(description="reasons")
    def reason_list(self, action: SafetyAction) -> str:
        return ", ".join(action.reasons)
