"""Reads for the cast: who is on a room's roster, with overrides and drift applied."""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db import connection
from django.urls import reverse

from chat.events import firehose_key
from chat.models import Room
from chatter_site.lib.redis import redis_client
from personas.models import DriftState, Persona, RoomCast, RosterEntry
from personas.prompting import PersonaView


@dataclass(frozen=True)
class CastMember:
    persona_id: int
    handle: str
    view: PersonaView
    chattiness: float
    hype_sensitivity: float
    bot_affinity: float
    mention_reaction: float
    max_posts_per_minute: int


@dataclass(frozen=True)
class RosterMember:
    """A member of a room's enabled cast as the tick, the mention answers and the chatter list see it:
    its knobs (overrides and drift applied), what a running trend can match, how it appears. Read as
    plain rows (no model instances, no prompt text), so a moderator's change holds from the next read
    whichever way it was written."""

    persona_id: int
    handle: str
    color: str
    badges: tuple[str, ...]
    liked: frozenset[str]  # loved topics (lower case) and emotes
    chattiness: float
    hype_sensitivity: float
    bot_affinity: float
    mention_reaction: float
    max_posts_per_minute: int


def _knob(override: float | None, base: float) -> float:
    return override if override is not None else base


def _knobs(
    *, chattiness: float, hype: float, bot_affinity: float, max_ppm: int,
    overrides: tuple[float | None, float | None, float | None, int | None], drift: tuple[float, float, float],
) -> dict[str, Any]:
    """A member's effective knobs: per-room overrides win over the persona's, then drift moves them."""
    o_chattiness, o_hype, o_bot_affinity, o_max_ppm = overrides
    d_chattiness, d_hype, d_bot_affinity = drift
    return {
        "chattiness": _unit(_knob(o_chattiness, chattiness) + d_chattiness),
        "hype_sensitivity": max(0.0, _knob(o_hype, hype) + d_hype),
        "bot_affinity": _unit(_knob(o_bot_affinity, bot_affinity) + d_bot_affinity),
        "max_posts_per_minute": int(_knob(o_max_ppm, max_ppm)),
    }


def _roster_sql() -> str:
    roster, persona, drift = RosterEntry._meta.db_table, Persona._meta.db_table, DriftState._meta.db_table
    return (
        "SELECT r.persona_id, p.handle, p.color, CAST(p.badges AS TEXT), CAST(p.loved_topics AS TEXT),"
        " CAST(p.emotes AS TEXT), p.chattiness, p.hype_sensitivity, p.bot_affinity, p.mention_reaction,"
        " p.max_posts_per_minute,"
        " r.chattiness, r.hype_sensitivity, r.bot_affinity, r.max_posts_per_minute,"
        " d.chattiness_delta, d.hype_delta, d.bot_affinity_delta"
        f" FROM {roster} r JOIN {persona} p ON p.id = r.persona_id LEFT JOIN {drift} d ON d.persona_id = p.id"
        " WHERE r.room_id = %s AND r.enabled = %s AND p.enabled = %s ORDER BY p.handle"
    )


def cast_for_room(*, room: Room) -> list[RosterMember]:
    """The room's enabled cast, in handle order: the one roster read (the tick, mention answers, the
    chatter list).

    One hand-written query of plain rows, on purpose: the tick runs it for every live room every
    second, and the ORM's query building and JSON decoding were most of a tick's CPU. The JSON lists
    come as text and are decoded once per distinct value (`_liked`, `_badges`)."""
    with connection.cursor() as cursor:
        cursor.execute(_roster_sql(), [room.pk, True, True])
        rows = cursor.fetchall()
    members = []
    for (persona_id, handle, color, badges_raw, loved_raw, emotes_raw, chattiness, hype, bot_affinity, mention_reaction,
         max_ppm, o_chattiness, o_hype, o_bot_affinity, o_max_ppm, d_chattiness, d_hype, d_bot_affinity) in rows:
        members.append(
            RosterMember(
                persona_id=persona_id,
                handle=handle,
                color=color,
                badges=_badges(badges_raw),
                liked=_liked(loved_raw, emotes_raw),
                mention_reaction=mention_reaction,
                **_knobs(
                    chattiness=chattiness, hype=hype, bot_affinity=bot_affinity, max_ppm=max_ppm,
                    overrides=(o_chattiness, o_hype, o_bot_affinity, o_max_ppm),
                    drift=(d_chattiness or 0.0, d_hype or 0.0, d_bot_affinity or 0.0),
                ),
            )
        )
    return members


@lru_cache(maxsize=8192)
def _liked(loved_raw: str | None, emotes_raw: str | None) -> frozenset[str]:
    """Loved topics (lower case) and emotes from their JSON text; the same text decodes once per process."""
    loved = json.loads(loved_raw) if loved_raw else []
    emotes = json.loads(emotes_raw) if emotes_raw else []
    return frozenset(str(topic).lower() for topic in loved) | frozenset(str(emote) for emote in emotes)


@lru_cache(maxsize=1024)
def _badges(badges_raw: str | None) -> tuple[str, ...]:
    """A persona's badges from their JSON text; "bot" when it has none."""
    return tuple(json.loads(badges_raw) if badges_raw else []) or ("bot",)


def _member(entry: RosterEntry) -> CastMember:
    persona = entry.persona
    drift = getattr(persona, "drift", None) or DriftState(persona=persona)
    style = persona.style + (f" {entry.extra_style}" if entry.extra_style else "")
    return CastMember(
        persona_id=persona.pk,
        handle=persona.handle,
        view=PersonaView(
            handle=persona.handle,
            color=persona.color,
            badges=tuple(persona.badges or ("bot",)),
            bio=persona.bio,
            style=style.strip(),
            catchphrases=tuple(persona.catchphrases),
            emotes=tuple(persona.emotes),
            loved_topics=tuple(persona.loved_topics),
            hated_topics=tuple(persona.hated_topics),
            temperature=persona.temperature,
            mood=drift.mood,
        ),
        mention_reaction=persona.mention_reaction,
        **_knobs(
            chattiness=persona.chattiness, hype=persona.hype_sensitivity, bot_affinity=persona.bot_affinity,
            max_ppm=persona.max_posts_per_minute,
            overrides=(entry.chattiness, entry.hype_sensitivity, entry.bot_affinity, entry.max_posts_per_minute),
            drift=(drift.chattiness_delta, drift.hype_delta, drift.bot_affinity_delta),
        ),
    )


def _unit(value: float) -> float:
    return max(0.0, min(1.0, value))


def cast_public(room_slug: str) -> list[dict[str, Any]]:
    """The room's cast as the chatter list shows it (registered with chat.presence)."""
    room = Room.objects.filter(slug=room_slug).first()
    if room is None:
        return []
    return [
        {"name": member.handle, "color": member.color, "badges": list(member.badges)}
        for member in cast_for_room(room=room)
    ]


def persona_card(name: str) -> dict[str, Any] | None:
    """A persona's user card in chat (registered with chat.presence): who it is, in its own words."""
    persona = Persona.objects.filter(handle__iexact=name).only("handle", "color", "badges", "bio").first()
    if persona is None:
        return None
    return {
        "name": persona.handle,
        "color": persona.color,
        "badges": list(persona.badges or []),
        "bio": persona.bio,
        "page_url": reverse("personas-persona", kwargs={"handle": persona.handle}),
        "narrative_url": reverse("memory-api-persona-narrative", kwargs={"handle": persona.handle}),
    }


def cast_member(*, room: Room, persona_id: int) -> CastMember | None:
    entry = (
        RosterEntry.objects.filter(room=room, persona_id=persona_id, enabled=True, persona__enabled=True)
        .select_related("persona", "persona__drift")
        .first()
    )
    return _member(entry) if entry else None


def tick_room(*, room_id: int) -> Room | None:
    """The live room a tick task works on, with its cast knobs attached (room_cast_settings reads them
    without a query); None when the room is gone or no longer live. One hand-written query, like
    cast_for_room: the ORM's query building was a quarter of a tick's CPU."""
    cast_table = RoomCast._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.slug, c.id, c.hype_multiplier, c.bot_human_bias, c.max_inflight, c.max_bot_messages_per_minute"
            f" FROM {Room._meta.db_table} r LEFT JOIN {cast_table} c ON c.room_id = r.id"
            " WHERE r.id = %s AND r.is_live = %s",
            [room_id, True],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    slug, cast_id, hype, bias, inflight, cap = row
    room = Room(id=room_id, slug=slug, is_live=True)  # the fields a tick uses; never saved
    cast = None
    if cast_id is not None:
        cast = RoomCast(
            id=cast_id, room=room, hype_multiplier=hype, bot_human_bias=bias, max_inflight=inflight,
            max_bot_messages_per_minute=cap,
        )
    Room.cast.related.set_cached_value(room, cast)
    return room


def room_cast_settings(*, room: Room) -> RoomCast:
    """The room's cast knobs, or the defaults. No query when the room was read with
    select_related("cast") (the tick task does)."""
    if Room.cast.is_cached(room):  # select_related: read with the room, None if it has none
        return getattr(room, "cast", None) or RoomCast(room=room)
    return RoomCast.objects.filter(room=room).first() or RoomCast(room=room)


def chat_window(*, room_slug: str, count: int = 30) -> list[dict[str, Any]]:
    """The latest messages, oldest first, from the firehose (the chat path reads Redis, not SQL)."""
    entries = redis_client().xrevrange(firehose_key(room_slug), count=count)
    return [json.loads(fields[b"m"]) for _, fields in reversed(entries)]


def persona_by_handle(*, handle: str) -> Persona | None:
    return Persona.objects.filter(handle__iexact=handle).first()
