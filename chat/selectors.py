"""Reads for the chat app."""
from __future__ import annotations

import json
import logging
import time
from typing import Any

from django.contrib.auth import get_user_model
from django.templatetags.static import static
from pydantic import BaseModel, ValidationError

from chat.events import latest_context_key, latest_trends_key, viewers_key
from chat.metrics import SCHEMA_READ_FAILURES
from chat.models import BlockedTerm, Emote, Message, ModerationAction, Room, RoomModerator
from chat.presence import ROLE_MODERATOR, ROLE_VIEWER, cast_card
from chat.safety import BlockRule
from chat.schemas import Author, ChatMessage, StreamContext, TrendsSnapshot
from chat.trends import EMOTES
from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.redis import redis_client

logger = logging.getLogger(__name__)

_RULES_TTL_SECONDS = 5.0
_rules_cache: tuple[float, tuple[BlockRule, ...]] = (0.0, ())


def room_get(*, slug: str) -> Room:
    room = Room.objects.filter(slug=slug).first()
    if room is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"unknown room {slug!r}")
    return room


_ROOM_CACHE_SECONDS = 5.0
_room_cache: dict[str, tuple[float, Room]] = {}


def room_get_cached(*, slug: str) -> Room:
    """room_get for the ingest hot path: a room's id and knobs change rarely; a few seconds' lag on
    slow mode is fine, an extra query per message is not."""
    hit = _room_cache.get(slug)
    if hit is not None and time.monotonic() - hit[0] < _ROOM_CACHE_SECONDS:
        return hit[1]
    room = room_get(slug=slug)
    _room_cache[slug] = (time.monotonic(), room)
    return room


def room_cache_forget(*, slug: str) -> None:
    """A moderator changed the room's modes: this process reads them afresh (the others within
    seconds, or at once when their hub sees the `moderation` frame)."""
    _room_cache.pop(slug, None)


def tombstone_payload(seq: int) -> dict[str, Any]:
    """A deleted message as history, the messages API and resume show it: its seq and nothing else."""
    return {"seq": seq, "deleted": True}


def message_to_schema(message: Message, *, room_slug: str) -> ChatMessage:
    return ChatMessage(
        id=message.id,
        seq=message.seq,
        room=room_slug,
        origin=message.origin,
        author=Author(name=message.author_name, color=message.author_color, badges=message.author_badges),
        text=message.text,
        created_at=message.created_at,
        mentions=message.mentions,
        flags=message.flags,
        reply_to=message.reply_to,
        client_id=message.client_id,
    )


def message_payload(message: Message, *, room_slug: str) -> dict[str, Any]:
    if message.deleted_at is not None:
        return tombstone_payload(message.seq)
    return message_to_schema(message, room_slug=room_slug).model_dump(mode="json")


def messages_after(*, room: Room, after_seq: int, limit: int) -> list[dict[str, Any]]:
    """Persisted messages with seq > after_seq, oldest first; deleted ones as tombstones."""
    rows = Message.all_objects.filter(room=room, seq__gt=after_seq).order_by("seq")[:limit]
    return [message_payload(row, room_slug=room.slug) for row in rows]


def messages_before(*, room: Room, before_seq: int, limit: int) -> list[dict[str, Any]]:
    """The `limit` persisted messages just before seq `before_seq`, oldest first (scrollback);
    deleted ones as tombstones, as messages_after gives them."""
    rows = list(Message.all_objects.filter(room=room, seq__lt=before_seq).order_by("-seq")[:limit])
    return [message_payload(row, room_slug=room.slug) for row in reversed(rows)]


def messages_recent(*, room: Room, limit: int) -> list[dict[str, Any]]:
    rows = list(Message.all_objects.filter(room=room).order_by("-seq")[:limit])
    return [message_payload(row, room_slug=room.slug) for row in reversed(rows)]


def room_emotes(*, room: Room) -> dict[str, str]:
    """The room's emotes, code -> image URL: its own set, else the defaults, else the bundled set
    (an emote table emptied by hand still leaves chat with its emotes)."""
    rows = list(Emote.objects.filter(rooms=room).values_list("code", "image"))
    if not rows:
        rows = list(Emote.objects.filter(is_default=True).values_list("code", "image"))
    if not rows and not Emote.objects.exists():
        rows = [(code, f"{code}.svg") for code in EMOTES]
    return {code: static(f"emotes/{image}") for code, image in sorted(rows, key=lambda row: row[0].lower())}


def blocked_rules() -> tuple[BlockRule, ...]:
    """The enabled blocklist, cached for a few seconds so the gate does not query per message."""
    global _rules_cache
    loaded_at, rules = _rules_cache
    if time.monotonic() - loaded_at < _RULES_TTL_SECONDS:
        return rules
    rules = tuple(
        BlockRule(term=row.term, match=row.match, action=row.action)
        for row in BlockedTerm.objects.filter(enabled=True).only("term", "match", "action")
    )
    _rules_cache = (time.monotonic(), rules)
    return rules


def blocked_rules_invalidate() -> None:
    global _rules_cache
    _rules_cache = (0.0, ())


def _latest_json(key: str, schema: type[BaseModel]) -> dict[str, Any] | None:
    """The latest snapshot in Redis, checked against its schema on the way out: it goes into
    prompts and pages, and whatever wrote it (another version, a bug, a hand in redis-cli) is not
    trusted. An invalid one reads as absent and is counted."""
    raw = redis_client().get(key)
    if not raw:
        return None
    try:
        data = json.loads(raw)
        schema.model_validate(data)
    except (ValueError, ValidationError) as error:
        SCHEMA_READ_FAILURES.labels(schema=schema.__name__).inc()
        logger.warning("invalid %s in Redis key=%s: %s", schema.__name__, key, str(error).splitlines()[0])
        return None
    return data


def trends_latest(*, room: Room) -> dict[str, Any] | None:
    return _latest_json(latest_trends_key(room.slug), TrendsSnapshot)


def context_latest(*, room: Room) -> dict[str, Any] | None:
    return _latest_json(latest_context_key(room.slug), StreamContext)


def room_moderator_is(*, user, room: Room) -> bool:
    """Staff moderate every room; others need the room's moderator role (given in admin)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_staff or user.is_superuser:
        return True
    return RoomModerator.objects.filter(room=room, user_id=user.pk).exists()


def room_moderator_ids(*, room_id: int, user_ids: set[int]) -> set[int]:
    """Which of these viewers hold the room's moderator role (staff get the badge from their flag)."""
    if not user_ids:
        return set()
    return set(RoomModerator.objects.filter(room_id=room_id, user_id__in=user_ids).values_list("user_id", flat=True))


USER_COLORS = ("#ff4f4f", "#1e90ff", "#2ecc71", "#ff7f50", "#9b59b6", "#daa520", "#00ced1", "#ff69b4", "#7fff00")


def user_color(*, user_id: int) -> str:
    return USER_COLORS[user_id % len(USER_COLORS)]


def user_badges(user) -> list[str]:
    if user.is_superuser or user.is_staff:
        return ["moderator"]
    return []


def viewer_role(*, user, room: Room) -> str:
    """A signed-in viewer's role in a room's chatter list: staff and the room's moderators moderate."""
    return ROLE_MODERATOR if room_moderator_is(user=user, room=room) else ROLE_VIEWER


CARD_RECENT_MESSAGES = 10


def user_card(*, room: Room, name: str, viewer) -> dict[str, Any] | None:
    """What a click on a name in chat shows: a persona's bio and badges, or a person's join date;
    a moderator also sees the person's recent messages in this room. None for an unknown name."""
    persona = cast_card(name=name)
    if persona is not None:
        return {"kind": "persona", **persona}
    User = get_user_model()
    user = User.objects.filter(**{f"{User.USERNAME_FIELD}__iexact": name, "is_active": True}).first()
    if user is None:
        return None
    card: dict[str, Any] = {
        "kind": "person",
        "name": user.get_username(),
        "color": user_color(user_id=user.pk),
        "badges": user_badges(user),
        "role": viewer_role(user=user, room=room),
        "joined": user.date_joined.isoformat().replace("+00:00", "Z"),
    }
    if viewer is not None and viewer.is_authenticated and viewer_role(user=viewer, room=room) == ROLE_MODERATOR:
        authored = Message.objects.filter(room=room, user=user)
        recent = list(authored.order_by("-seq")[:CARD_RECENT_MESSAGES])
        card["message_count"] = authored.count()
        card["recent_messages"] = [
            {"seq": row.seq, "text": row.text, "created_at": row.created_at.isoformat().replace("+00:00", "Z")} for row in recent
        ]
        actions = ModerationAction.objects.filter(room=room, target=user).order_by("-created_at")[:CARD_RECENT_MESSAGES]
        card["moderation_actions"] = [
            {
                "action": row.action,
                "by": row.actor_name,
                "reason": row.reason,
                "at": row.created_at.isoformat().replace("+00:00", "Z"),
                "until": row.until.isoformat().replace("+00:00", "Z") if row.until else None,
            }
            for row in actions
        ]
    return card


VIEWER_COUNT_STALE_SECONDS = 20


def viewers_count(*, room_slug: str) -> int:
    """Sum of the per-process counts the hubs refresh; entries of dead processes age out."""
    entries = redis_client().hgetall(viewers_key(room_slug))
    now = time.time()
    total = 0
    for raw in entries.values():
        count, _, stamp = raw.decode().partition(":")
        if now - float(stamp or 0) < VIEWER_COUNT_STALE_SECONDS:
            total += int(count)
    return total


def rooms_list() -> list[dict[str, Any]]:
    rooms = list(Room.objects.all())
    return [
        {"slug": room.slug, "title": room.title, "is_live": room.is_live, "viewers": viewers_count(room_slug=room.slug)}
        for room in rooms
    ]


