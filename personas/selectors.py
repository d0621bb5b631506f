"""Reads for the cast: who is on a room's roster, with overrides and drift applied."""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

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
        chattiness=_unit((entry.chattiness if entry.chattiness is not None else persona.chattiness) + drift.chattiness_delta),
        hype_sensitivity=max(0.0, (entry.hype_sensitivity if entry.hype_sensitivity is not None else persona.hype_sensitivity) + drift.hype_delta),
        bot_affinity=_unit((entry.bot_affinity if entry.bot_affinity is not None else persona.bot_affinity) + drift.bot_affinity_delta),
        mention_reaction=persona.mention_reaction,
        max_posts_per_minute=entry.max_posts_per_minute if entry.max_posts_per_minute is not None else persona.max_posts_per_minute,
    )


def _unit(value: float) -> float:
    return max(0.0, min(1.0, value))


def cast_for_room(*, room: Room) -> list[CastMember]:
    entries = (
        RosterEntry.objects.filter(room=room, enabled=True, persona__enabled=True)
        .select_related("persona", "persona__drift")
        .order_by("persona__handle")
    )
    return [_member(entry) for entry in entries]


def cast_member(*, room: Room, persona_id: int) -> CastMember | None:
    entry = (
        RosterEntry.objects.filter(room=room, persona_id=persona_id, enabled=True, persona__enabled=True)
        .select_related("persona", "persona__drift")
        .first()
    )
    return _member(entry) if entry else None


def room_cast_settings(*, room: Room) -> RoomCast:
    return RoomCast.objects.filter(room=room).first() or RoomCast(room=room)


def chat_window(*, room_slug: str, count: int = 30) -> list[dict[str, Any]]:
    """The latest messages, oldest first, from the firehose (the chat path reads Redis, not SQL)."""
    entries = redis_client().xrevrange(firehose_key(room_slug), count=count)
    return [json.loads(fields[b"m"]) for _, fields in reversed(entries)]


def persona_by_handle(*, handle: str) -> Persona | None:
    return Persona.objects.filter(handle__iexact=handle).first()
