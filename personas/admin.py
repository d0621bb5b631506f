"""Moderator screens for the cast: personas (anchors, knobs, drift, roster), room casts, and the
staff "Cast activity" page. Changes apply on the next fast-loop tick: the tick reads the roster
and the persona's `enabled` flag from the database every time."""
from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import models
from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from chat.admin import RoomAdmin
from chat.models import Room
from chatter_site.lib.errors import ChatterError
from personas.admin_drift import persona_reflect_now_action  # also registers DriftProposal
from personas.forms import PersonaForm
from personas.models import DriftState, Persona, RoomCast, RosterEntry
from personas.reports import cast_activity_report, posts_since_subquery
from personas.services import persona_preview_line

# Each preview is one synchronous LLM call inside the admin request: keep the wait bounded.
PREVIEW_MAX_PERSONAS = 5
OVERRIDE_FIELDS = ("chattiness", "max_posts_per_minute", "hype_sensitivity", "bot_affinity", "extra_style")
# Roster rows are table rows: keep the per-room voice notes box small.
COMPACT_TEXT = {models.TextField: {"widget": forms.Textarea(attrs={"rows": 2, "cols": 24})}}


class RosterInlineBase(admin.TabularInline):
    """A roster as a compact table (static/personas/admin.css): short number inputs, no repeated row names."""

    model = RosterEntry
    readonly_fields = ("joined",)
    extra = 0
    classes = ("roster-inline",)

    class Media:
        css = {"all": ("personas/admin.css",)}

    @admin.display(description="joined", ordering="joined_at")
    def joined(self, entry: RosterEntry) -> str:
        return f"{entry.joined_at:%Y-%m-%d}" if entry.joined_at else "—"


class PersonaRosterInline(RosterInlineBase):
    """On a persona: the rooms it sits in, with per-room overrides (blank = the persona's own knob)."""

    fk_name = "persona"
    fields = ("room", "enabled", *OVERRIDE_FIELDS, "joined")
    formfield_overrides = COMPACT_TEXT
    verbose_name = "room on the roster"
    verbose_name_plural = "Roster: rooms this persona chats in (blank overrides use the persona's knobs)"


@admin.register(Persona)
class PersonaAdmin(admin.ModelAdmin):
    form = PersonaForm
    list_display = (
        "handle", "swatch", "enabled", "chattiness", "max_posts_per_minute", "rooms_count", "posts_last_10_minutes",
        "drift_mode", "updated_at",
    )
    list_display_links = ("handle",)
    list_filter = ("enabled", "drift_review", ("roster_entries__room", admin.RelatedOnlyFieldListFilter))
    search_fields = ("handle", "bio", "style")
    readonly_fields = ("drift_summary", "created_at", "updated_at")
    fieldsets = (
        (
            "Anchors",
            {
                "description": "Who the persona is. The model reads all of this on every line.",
                "fields": (
                    "handle", "color", "badges", "bio", "style", "catchphrases", "emotes", "loved_topics", "hated_topics",
                ),
            },
        ),
        (
            "Knobs",
            {
                "description": "How it behaves. Room rosters can override some of these per room.",
                "fields": (
                    "enabled", "chattiness", "max_posts_per_minute", "hype_sensitivity", "mention_reaction",
                    "bot_affinity", "temperature",
                ),
            },
        ),
        ("Drift", {"fields": ("drift_review", "drift_summary")}),
        ("History", {"classes": ("collapse",), "fields": ("created_at", "updated_at")}),
    )
    inlines = (PersonaRosterInline,)
    actions = ("enable", "disable", "reset_drift", "preview_line", persona_reflect_now_action)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Persona]:
        # Subqueries, not joins: a roster-room filter joins the roster again and would multiply counts.
        rooms = (
            RosterEntry.objects.filter(persona=OuterRef("pk"), enabled=True)
            .order_by()
            .values("persona")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return (
            super()
            .get_queryset(request)
            .select_related("drift")
            .annotate(
                rooms_count=Coalesce(Subquery(rooms, output_field=IntegerField()), 0),
                posts_last_10_minutes=posts_since_subquery(since=timezone.now() - timedelta(minutes=10)),
            )
        )

    # --- columns ---

    @admin.display(description="colour")
    def swatch(self, persona: Persona) -> str:
        return format_html(
            '<span title="{0}" style="display:inline-block;width:1.2em;height:1.2em;border-radius:3px;'
            'vertical-align:middle;background:{0}"></span> <code>{0}</code>',
            persona.color,
        )

    @admin.display(description="rooms", ordering="rooms_count")
    def rooms_count(self, persona: Persona) -> int:
        return persona.rooms_count

    @admin.display(description="posts (10 min)", ordering="posts_last_10_minutes")
    def posts_last_10_minutes(self, persona: Persona) -> int:
        return persona.posts_last_10_minutes

    @admin.display(description="drift", ordering="drift_review")
    def drift_mode(self, persona: Persona) -> str:
        return persona.drift_review.replace("_", " ")

    @admin.display(description="current drift")
    def drift_summary(self, persona: Persona) -> str:
        drift = getattr(persona, "drift", None) if persona.pk else None
        if drift is None:
            return "neutral, no drift yet"
        rows = (
            ("mood", drift.mood),
            ("chattiness", f"{drift.chattiness_delta:+.3f}"),
            ("hype sensitivity", f"{drift.hype_delta:+.2f}"),
            ("bot affinity", f"{drift.bot_affinity_delta:+.3f}"),
            ("updated", timezone.localtime(drift.updated_at).strftime("%Y-%m-%d %H:%M")),
        )
        return format_html_join(" · ", "{}: <b>{}</b>", rows)

    # --- actions ---

    @admin.action(permissions=["change"], description="Enable selected personas (they post again from the next tick)")
    def enable(self, request: HttpRequest, queryset: QuerySet[Persona]) -> None:
        count = queryset.update(enabled=True, updated_at=timezone.now())
        self.message_user(request, f"{count} persona(s) enabled.")

    @admin.action(permissions=["change"], description="Disable selected personas (silent in every room from the next tick)")
    def disable(self, request: HttpRequest, queryset: QuerySet[Persona]) -> None:
        count = queryset.update(enabled=False, updated_at=timezone.now())
        self.message_user(request, f"{count} persona(s) disabled.")

    @admin.action(permissions=["change"], description="Reset drift of selected personas (neutral mood, no knob deltas)")
    def reset_drift(self, request: HttpRequest, queryset: QuerySet[Persona]) -> None:
        count = DriftState.objects.filter(persona__in=queryset.values("pk")).update(
            mood="neutral", chattiness_delta=0.0, hype_delta=0.0, bot_affinity_delta=0.0, updated_at=timezone.now()
        )
        self.message_user(request, f"Drift reset for {queryset.count()} persona(s) ({count} had drifted state).")

    @admin.action(permissions=["change"], description="Preview a line from selected personas (nothing is posted)")
    def preview_line(self, request: HttpRequest, queryset: QuerySet[Persona]) -> HttpResponse | None:
        personas = list(queryset.order_by("handle")[: PREVIEW_MAX_PERSONAS + 1])
        if len(personas) > PREVIEW_MAX_PERSONAS:
            self.message_user(
                request, f"Preview at most {PREVIEW_MAX_PERSONAS} personas at a time: each is a live model call.", messages.WARNING
            )
            return None
        rooms = list(
            Room.objects.filter(roster__persona__in=personas, roster__enabled=True).distinct().order_by("slug")
        )
        if not rooms:
            self.message_user(request, "None of the selected personas is on a room's roster.", messages.ERROR)
            return None
        chosen = request.POST.get("room")
        if chosen:
            room = next((room for room in rooms if str(room.pk) == chosen), None)
            if room is None:
                self.message_user(request, "Choose a room one of the personas is rostered in.", messages.ERROR)
                return None
        elif len(rooms) == 1:
            room = rooms[0]
        else:
            context = {
                **self.admin_site.each_context(request),
                "title": "Preview a line: choose the room",
                "opts": self.opts,
                "personas": personas,
                "rooms": rooms,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/personas/persona/preview_choose_room.html", context)
        for persona in personas:
            self._preview_into_messages(request, persona=persona, room=room)
        return None

    def _preview_into_messages(self, request: HttpRequest, *, persona: Persona, room: Room) -> None:
        try:
            line = persona_preview_line(room=room, persona_id=persona.pk)
        except ChatterError as error:
            self.message_user(request, f"{persona.handle} in {room.slug}: {error.message}", messages.ERROR)
        else:
            self.message_user(request, f"{persona.handle} in {room.slug} would say: {line}", messages.INFO)

    # --- extra pages ---

    def get_urls(self):
        own = [
            path("activity/", self.admin_site.admin_view(self.activity_view), name="personas_persona_activity"),
            path(
                "<int:object_id>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="personas_persona_preview",
            ),
        ]
        return own + super().get_urls()

    def activity_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        report = cast_activity_report()
        context = {
            **self.admin_site.each_context(request),
            "title": "Cast activity",
            "opts": self.opts,
            "report": report,
            "has_view_permission": True,
        }
        return TemplateResponse(request, "admin/personas/cast_activity.html", context)

    def preview_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The change page's "Preview a line" button: pick a room, see the line, try again."""
        persona = get_object_or_404(Persona, pk=object_id)
        if not self.has_change_permission(request, persona):  # each preview is an LLM call
            return HttpResponse(status=403)
        rooms = list(Room.objects.filter(roster__persona=persona, roster__enabled=True).order_by("slug"))
        room = line = error = None
        if request.method == "POST":
            room = next((item for item in rooms if str(item.pk) == request.POST.get("room")), None)
            if room is None:
                error = "Choose a room this persona is rostered in."
            else:
                try:
                    line = persona_preview_line(room=room, persona_id=persona.pk)
                except ChatterError as exc:
                    error = exc.message
        context = {
            **self.admin_site.each_context(request),
            "title": f"Preview a line from {persona.handle}",
            "opts": self.opts,
            "original": persona,
            "persona": persona,
            "rooms": rooms,
            "room": room,
            "line": line,
            "error": error,
            "change_url": reverse("admin:personas_persona_change", args=[persona.pk]),
        }
        return TemplateResponse(request, "admin/personas/persona/preview.html", context)


class RoomCastInline(admin.StackedInline):
    model = RoomCast
    fk_name = "room"
    can_delete = False
    max_num = 1
    verbose_name = verbose_name_plural = "Cast settings (room knobs)"


class RoomRosterInline(RosterInlineBase):
    """On a room: its cast, with per-room overrides (blank = the persona's own knob)."""

    fk_name = "room"
    fields = ("persona", "enabled", *OVERRIDE_FIELDS, "joined")
    formfield_overrides = COMPACT_TEXT
    verbose_name = "persona on the roster"
    verbose_name_plural = "Roster: personas in this room (blank overrides use the persona's knobs)"


# The room screen belongs to chat, which knows nothing about personas; the cast adds its inlines
# to it here (the usual way to extend another app's admin), so moderators edit a room and its
# cast on one page.
admin.site.unregister(Room)


@admin.register(Room)
class RoomWithCastAdmin(RoomAdmin):
    inlines = (*RoomAdmin.inlines, RoomCastInline, RoomRosterInline)


@admin.register(RoomCast)
class RoomCastAdmin(admin.ModelAdmin):
    """All rooms' cast knobs side by side; the roster itself is edited on the room's page."""

    list_display = (
        "room", "hype_multiplier", "bot_human_bias", "max_inflight", "max_bot_messages_per_minute", "roster_size",
        "roster_link",
    )
    list_editable = ("hype_multiplier", "bot_human_bias", "max_inflight", "max_bot_messages_per_minute")
    list_select_related = ("room",)
    search_fields = ("room__slug", "room__title")

    def get_queryset(self, request: HttpRequest) -> QuerySet[RoomCast]:
        roster = (
            RosterEntry.objects.filter(room=OuterRef("room"), enabled=True)
            .order_by()
            .values("room")
            .annotate(count=Count("pk"))
            .values("count")
        )
        return super().get_queryset(request).annotate(roster_size=Coalesce(Subquery(roster, output_field=IntegerField()), 0))

    @admin.display(description="personas on roster", ordering="roster_size")
    def roster_size(self, cast: RoomCast) -> int:
        return cast.roster_size

    @admin.display(description="roster")
    def roster_link(self, cast: RoomCast) -> str:
        return format_html('<a href="{}#roster-group">edit the roster</a>', reverse("admin:chat_room_change", args=[cast.room_id]))
