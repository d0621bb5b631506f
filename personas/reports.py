"""Reads behind the staff "Cast activity" page: which persona is spamming, and are bots mostly
reacting to bots? Post counts come from the messages table (the truth, across every worker);
policy reasons come from the live Redis counters."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, IntegerField, OuterRef, Q, Subquery, Value
from django.db.models.functions import Coalesce, Concat
from django.utils import timezone

from chat.models import Message, Room
from personas import activity
from personas.models import Persona, RosterEntry

logger = logging.getLogger(__name__)

RECENT = timedelta(minutes=10)
TOP_REASONS = 5


@dataclass(frozen=True)
class PersonaActivity:
    persona_id: int
    handle: str
    color: str
    enabled: bool
    max_posts_per_minute: int
    posts_last_minute: int
    posts_last_10_minutes: int
    after_bot_share: float | None  # of its recent posts, the share that came right after another bot
    top_reasons: list[tuple[str, int]]
    decisions: dict[str, int]  # outcome -> count, from the live counters (last 24 h)
    rooms: list[str]

    @property
    def over_cap(self) -> bool:
        return self.posts_last_minute >= self.max_posts_per_minute


@dataclass(frozen=True)
class RoomActivity:
    slug: str
    title: str
    is_live: bool
    messages_last_10_minutes: int
    bot_messages: int
    bot_share: float | None
    bot_after_bot_share: float | None  # of bot messages, the share posted right after another bot
    humans_active: int
    roster_enabled: int


@dataclass(frozen=True)
class CastActivity:
    at: datetime
    personas: list[PersonaActivity]
    rooms: list[RoomActivity]
    reasons_available: bool = True
    notes: list[str] = field(default_factory=list)


def posts_since_subquery(*, since: datetime) -> Subquery:
    """Per persona row: how many messages its bot author key posted since `since` (0 when none)."""
    posts = (
        Message.objects.filter(
            origin=Message.Origin.BOT, author_key=Concat(Value("bot:"), OuterRef("handle")), created_at__gte=since
        )
        .order_by()
        .values("author_key")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return Coalesce(Subquery(posts, output_field=IntegerField()), 0)


def _recent_messages(*, since: datetime):
    """Recent messages with who spoke just before them in the same room (seq - 1, any age)."""
    previous = Message.objects.filter(room=OuterRef("room"), seq=OuterRef("seq") - 1)
    return (
        Message.objects.filter(created_at__gte=since)
        .annotate(
            previous_origin=Subquery(previous.values("origin")[:1]),
            previous_author=Subquery(previous.values("author_key")[:1]),
        )
        .values("room_id", "origin", "author_key", "previous_origin", "previous_author")
    )


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class _RoomTally:
    """One room's messages in the recent window, counted in one pass."""

    total: int = 0
    bots: int = 0
    bot_after_bot: int = 0
    humans: set[str] = field(default_factory=set)


def cast_activity_report(*, now: datetime | None = None) -> CastActivity:
    now = now or timezone.now()
    since, last_minute = now - RECENT, now - timedelta(minutes=1)
    notes: list[str] = []

    # One pass over the recent window; bots after another bot's line (not their own) count as bot→bot.
    per_author: dict[str, dict[str, int]] = {}
    per_room: dict[int, _RoomTally] = {}
    for row in _recent_messages(since=since).iterator():
        room = per_room.setdefault(row["room_id"], _RoomTally())
        room.total += 1
        if row["origin"] == Message.Origin.HUMAN:
            room.humans.add(row["author_key"])
        if row["origin"] != Message.Origin.BOT:
            continue
        after_bot = row["previous_origin"] == Message.Origin.BOT and row["previous_author"] != row["author_key"]
        room.bots += 1
        room.bot_after_bot += after_bot
        author = per_author.setdefault(row["author_key"], {"posts": 0, "after_bot": 0})
        author["posts"] += 1
        author["after_bot"] += after_bot

    last_minute_counts = dict(
        Message.objects.filter(origin=Message.Origin.BOT, created_at__gte=last_minute)
        .order_by()
        .values_list("author_key")
        .annotate(count=Count("pk"))
        .values_list("author_key", "count")
    )
    rooms_by_persona: dict[int, list[str]] = {}
    for persona_id, slug in (
        RosterEntry.objects.filter(enabled=True).order_by("room__slug").values_list("persona_id", "room__slug")
    ):
        rooms_by_persona.setdefault(persona_id, []).append(slug)

    reasons_available = True
    personas: list[PersonaActivity] = []
    for persona in Persona.objects.order_by("handle"):
        key = persona.author_key
        counts = per_author.get(key, {"posts": 0, "after_bot": 0})
        reasons: dict[str, int] = {}
        if reasons_available:
            try:
                reasons = activity.reasons_read(handle=persona.handle)
            except Exception:  # Redis down: the page still answers from the database
                logger.warning("cast activity: policy reasons unavailable", exc_info=True)
                reasons_available = False
                notes.append("Policy reasons are unavailable right now (Redis did not answer).")
        decisions = {k.split(":", 1)[1]: v for k, v in reasons.items() if k.startswith("outcome:")}
        top = sorted(((k, v) for k, v in reasons.items() if not k.startswith("outcome:")), key=lambda kv: (-kv[1], kv[0]))
        personas.append(
            PersonaActivity(
                persona_id=persona.pk,
                handle=persona.handle,
                color=persona.color,
                enabled=persona.enabled,
                max_posts_per_minute=persona.max_posts_per_minute,
                posts_last_minute=int(last_minute_counts.get(key, 0)),
                posts_last_10_minutes=counts["posts"],
                after_bot_share=_share(counts["after_bot"], counts["posts"]),
                top_reasons=top[:TOP_REASONS],
                decisions=decisions,
                rooms=rooms_by_persona.get(persona.pk, []),
            )
        )
    # The loudest first: that is the question the page exists to answer.
    personas.sort(key=lambda item: (-item.posts_last_minute, -item.posts_last_10_minutes, item.handle))

    roster_counts = dict(
        RosterEntry.objects.filter(enabled=True, persona__enabled=True)
        .order_by()
        .values_list("room_id")
        .annotate(count=Count("pk"))
        .values_list("room_id", "count")
    )
    rooms: list[RoomActivity] = []
    for room in Room.objects.filter(Q(is_live=True) | Q(pk__in=list(per_room)) | Q(roster__enabled=True)).distinct():
        stats = per_room.get(room.pk) or _RoomTally()
        rooms.append(
            RoomActivity(
                slug=room.slug,
                title=room.title,
                is_live=room.is_live,
                messages_last_10_minutes=stats.total,
                bot_messages=stats.bots,
                bot_share=_share(stats.bots, stats.total),
                bot_after_bot_share=_share(stats.bot_after_bot, stats.bots),
                humans_active=len(stats.humans),
                roster_enabled=roster_counts.get(room.pk, 0),
            )
        )
    rooms.sort(key=lambda item: (-item.messages_last_10_minutes, item.slug))
    return CastActivity(at=now, personas=personas, rooms=rooms, reasons_available=reasons_available, notes=notes)
