"""Moderator screens for rooms, messages, conversations, the blocklist and safety decisions."""
from __future__ import annotations

from django.contrib import admin
from django.templatetags.static import static
from django.utils import timezone
from django.utils.html import format_html

from chat.models import (
    BlockedTerm,
    Conversation,
    Emote,
    Message,
    MessageReport,
    ModerationAction,
    Room,
    RoomModerator,
    RoomSanction,
    SafetyAction,
)
from chat.moderation import moderation_apply
from chat.selectors import blocked_rules_invalidate, viewers_count
from chatter_site.lib.errors import ChatterError


class RoomModeratorInline(admin.TabularInline):
    model = RoomModerator
    extra = 1
    autocomplete_fields = ("user",)
    verbose_name = "moderator"
    verbose_name_plural = "moderators (staff moderate every room without being listed)"


class RoomEmoteInline(admin.TabularInline):
    model = Emote.rooms.through
    extra = 1
    verbose_name = "emote of this room's own set"
    verbose_name_plural = "the room's own emote set (empty: the default emotes)"
    autocomplete_fields = ("emote",)


@admin.register(Emote)
class EmoteAdmin(admin.ModelAdmin):
    list_display = ("preview", "code", "image", "is_default", "room_list")
    list_display_links = ("preview", "code")
    list_editable = ("is_default",)
    list_filter = ("is_default", "rooms")
    search_fields = ("code",)
    filter_horizontal = ("rooms",)

    @admin.display(description="")
    def preview(self, emote: Emote) -> str:
        return format_html('<img src="{}" alt="{}" width="28" height="28">', static(f"emotes/{emote.image}"), emote.code)

    @admin.display(description="in the own set of")
    def room_list(self, emote: Emote) -> str:
        return ", ".join(room.slug for room in emote.rooms.all()) or "—"


@admin.register(Room)
class RoomAdmin(admin.ModelAdmin):
    list_display = ("title", "slug", "is_live", "slow_mode_seconds", "emote_only", "last_seq", "viewers", "created_at")
    list_filter = ("is_live", "emote_only")
    list_editable = ("is_live", "slow_mode_seconds")
    inlines: tuple[type, ...] = (RoomModeratorInline, RoomEmoteInline)
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

    @admin.action(permissions=["change"], description="Mark selected rooms live")
    def go_live(self, request, queryset) -> None:
        self.message_user(request, f"{queryset.update(is_live=True)} room(s) are live.")

    @admin.action(permissions=["change"], description="Mark selected rooms offline")
    def go_offline(self, request, queryset) -> None:
        self.message_user(request, f"{queryset.update(is_live=False)} room(s) are offline.")


def _delete_for_everyone(modeladmin, request, messages) -> None:
    """Through the moderation service, as a moderator on the room page would: a tombstone keeps the
    seq, viewers' screens and the personas' window lose the message, the log records it."""
    done = failed = 0
    for message in messages:
        try:
            moderation_apply(
                room=message.room, actor=request.user, data={"action": "delete", "seq": message.seq, "reason": "admin"}
            )
            done += 1
        except ChatterError:
            failed += 1
    modeladmin.message_user(request, f"{done} message(s) deleted for everyone" + (f", {failed} already gone." if failed else "."))


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("seq", "room", "coloured_author", "origin", "short_text", "flag_list", "created_at", "deleted_at")
    list_filter = ("room", "origin", "created_at", ("deleted_at", admin.EmptyFieldListFilter))
    actions = ("delete_for_everyone",)
    search_fields = ("text", "author_name", "client_id", "correlation_id")
    list_select_related = ("room",)
    readonly_fields = [field.name for field in Message._meta.fields]
    ordering = ("-created_at",)
    date_hierarchy = "created_at"
    list_per_page = 100

    def has_add_permission(self, request) -> bool:
        return False  # messages enter through the gateway only (safety, seq, broadcast)

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a hard delete would leave a hole in the seqs: "delete for everyone" tombstones

    @admin.action(description="Delete for everyone (keeps a tombstone, logged)")
    def delete_for_everyone(self, request, queryset) -> None:
        _delete_for_everyone(self, request, queryset.filter(deleted_at__isnull=True).select_related("room"))

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


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    """The moderators' log: browsable, never editable."""

    list_display = ("created_at", "room", "actor_name", "action", "target_name", "seq_list", "until", "mode", "reason")
    list_filter = ("action", "room", "created_at")
    search_fields = ("actor_name", "target_name", "reason")
    date_hierarchy = "created_at"
    readonly_fields = [field.name for field in ModerationAction._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="seqs")
    def seq_list(self, action: ModerationAction) -> str:
        if action.action == ModerationAction.Action.CLEAR and action.seqs:
            return f"{action.seqs[0]}–{action.seqs[-1]}"
        return ", ".join(str(seq) for seq in action.seqs)


@admin.register(RoomSanction)
class RoomSanctionAdmin(admin.ModelAdmin):
    list_display = ("created_at", "room", "user", "kind", "until", "lifted_at", "created_by", "reason")
    list_filter = ("kind", "room", ("lifted_at", admin.EmptyFieldListFilter))
    search_fields = ("user__username", "reason")
    readonly_fields = [field.name for field in RoomSanction._meta.fields]
    actions = ("lift",)

    def has_add_permission(self, request) -> bool:
        return False  # from the room page or the API, so the room hears of it and the log has it

    @admin.action(description="Lift (unban / end the timeout)")
    def lift(self, request, queryset) -> None:
        done = 0
        for sanction in queryset.filter(lifted_at__isnull=True).select_related("room", "user"):
            try:
                moderation_apply(
                    room=sanction.room, actor=request.user,
                    data={"action": "unban", "user": sanction.user.get_username(), "reason": "lifted in admin"},
                )
                done += 1
            except ChatterError:
                pass
        self.message_user(request, f"{done} viewer(s) may chat again.")


@admin.register(MessageReport)
class MessageReportAdmin(admin.ModelAdmin):
    """The report queue: open reports first."""

    list_display = ("created_at", "room", "status", "reason", "reported_author", "reported_text", "reporter", "note")
    list_filter = ("status", "reason", "room")
    search_fields = ("message__text", "message__author_name", "reporter__username", "note")
    list_select_related = ("room", "message", "reporter")
    readonly_fields = ("room", "message", "reporter", "reason", "note", "created_at", "handled_by", "handled_at")
    actions = ("delete_reported", "dismiss")
    ordering = ("status", "-created_at")

    def has_add_permission(self, request) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).extra(
            select={"open_first": "CASE WHEN status = 'open' THEN 0 ELSE 1 END"}, order_by=["open_first", "-created_at"]
        )

    @admin.display(description="author")
    def reported_author(self, report: MessageReport) -> str:
        return report.message.author_name

    @admin.display(description="message")
    def reported_text(self, report: MessageReport) -> str:
        text = report.message.text
        prefix = "[deleted] " if report.message.deleted_at else ""
        return prefix + (text if len(text) <= 80 else text[:79] + "…")

    @admin.action(description="Delete the reported messages for everyone (resolves the reports)")
    def delete_reported(self, request, queryset) -> None:
        ids = queryset.values_list("message_id", flat=True)
        _delete_for_everyone(self, request, Message.objects.filter(id__in=ids).select_related("room"))

    @admin.action(description="Dismiss (no action needed)")
    def dismiss(self, request, queryset) -> None:
        count = queryset.filter(status=MessageReport.Status.OPEN).update(
            status=MessageReport.Status.DISMISSED, handled_by=request.user, handled_at=timezone.now()
        )
        self.message_user(request, f"{count} report(s) dismissed.")
