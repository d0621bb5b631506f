"""Writes for the chat app: the gateway pipeline and room housekeeping.

message_ingest is chat.ingest's one consumer: validate → safety gate → persist (gap-free seq,
idempotent client_id) → on commit: broadcast + firehose.
"""
from __future__ import annotations

import logging
import re
import time
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from chat import metrics
from chat.events import messages_publish, trends_publish
from chat.models import Conversation, Message, Room, SafetyAction
from chat.moderation import draft_with_moderator_badge, emote_only_enforce, sanction_enforce
from chat.ratelimit import rate_limit_hit, slow_mode_hit
from chat.safety import safety_check
from chat.schemas import MessageDraft, TrendsSnapshot
from chat.selectors import (
    blocked_rules,
    message_payload,
    room_get_cached,
    room_moderator_ids,
    user_badges,
    user_color,
)
from chat.trends import TrendInput, trends_compute
from chatter_site.lib.correlation import current_correlation_id, new_correlation_id
from chatter_site.lib.errors import ChatterError, ErrorCode, schema_validate

logger = logging.getLogger(__name__)

MENTION_RE = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{2,32})")


def draft_parse(data: dict[str, Any]) -> MessageDraft:
    return schema_validate(MessageDraft, data, root="frame")


def _existing_for_client_id(draft: MessageDraft) -> Message | None:
    if draft.client_id is None:
        return None
    return Message.all_objects.filter(author_key=draft.author_key, client_id=draft.client_id).first()


def _enforce_human_limits(*, room: Room, draft: MessageDraft) -> None:
    retry = rate_limit_hit(
        key=f"send:{draft.author_key}",
        limit=settings.CHAT_RATE_LIMIT_COUNT,
        window_seconds=settings.CHAT_RATE_LIMIT_WINDOW,
    )
    if retry > 0:
        raise ChatterError(ErrorCode.RATE_LIMITED, f"slow down: try again in {retry:.1f}s")
    if room.slow_mode_seconds:
        wait = slow_mode_hit(room_slug=room.slug, user_key=draft.author_key, seconds=room.slow_mode_seconds)
        if wait > 0:
            raise ChatterError(ErrorCode.SLOW_MODE, f"slow mode is on: wait {wait:.0f}s between messages")


def _record_safety(*, room: Room, draft: MessageDraft, action: str, reasons: tuple[str, ...], message=None) -> None:
    SafetyAction.objects.create(
        room=room,
        message=message,
        origin=draft.origin,
        author_key=draft.author_key,
        action=action,
        reasons=list(reasons),
        correlation_id=draft.correlation_id or "",
    )
    for reason in reasons:
        metrics.SAFETY_ACTIONS.labels(action=action, reason=reason.split(":")[0]).inc()


def _sql_time(value):
    return connection.ops.adapt_datetimefield_value(value)


def _next_seq(*, room_id: int) -> int:
    """Take the room's next seq. The UPDATE holds the room's row lock until commit: concurrent
    ingests queue here, so seqs are strictly increasing and a rolled-back insert gives its seq
    back (no gaps). One statement: this is the gateway's hottest line."""
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {Room._meta.db_table} SET last_seq = last_seq + 1 WHERE id = %s RETURNING last_seq", [room_id])
        return cursor.fetchone()[0]


def _conversation_for(*, room_id: int, seq: int, now, count: int = 1) -> int:
    """The id of the room's open conversation, extended by the `count` messages ending at `seq`, or
    of a new one when the last went idle. Caller holds the room lock."""
    cutoff = now - timezone.timedelta(minutes=settings.CHAT_CONVERSATION_IDLE_MINUTES)
    table = Conversation._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_message_at = %s, last_seq = %s, message_count = message_count + %s "
            f"WHERE room_id = %s AND ended_at IS NULL AND last_message_at >= %s RETURNING id",
            [_sql_time(now), seq, count, room_id, _sql_time(cutoff)],
        )
        row = cursor.fetchone()
    if row is not None:
        return row[0]
    Conversation.objects.filter(room_id=room_id, ended_at__isnull=True).update(ended_at=F("last_message_at"))
    conversation = Conversation.objects.create(
        room_id=room_id, started_at=now, last_message_at=now, first_seq=seq - count + 1, last_seq=seq, message_count=count
    )
    return conversation.pk


def _persist(*, room: Room, draft: MessageDraft, text: str, flags: list[str], user) -> Message:
    now = timezone.now()
    with transaction.atomic():
        seq = _next_seq(room_id=room.pk)
        message = Message(
            room_id=room.pk,
            conversation_id=_conversation_for(room_id=room.pk, seq=seq, now=now),
            seq=seq,
            origin=draft.origin,
            author_key=draft.author_key,
            author_name=draft.author.name,
            author_color=draft.author.color,
            author_badges=list(draft.author.badges),
            user=user,
            text=text,
            created_at=now,
            mentions=sorted(set(MENTION_RE.findall(text))),
            flags=flags,
            reply_to=draft.reply_to,
            client_id=draft.client_id,
            correlation_id=draft.correlation_id or current_correlation_id() or new_correlation_id(),
        )
        message.save(force_insert=True)
        payload = message_payload(message, room_slug=room.slug)
        corr = {message.seq: message.correlation_id}
        transaction.on_commit(lambda: messages_publish(room_slug=room.slug, messages=[payload], correlation_ids=corr))
    return message


def message_ingest(*, draft: MessageDraft, user=None, enforce_limits: bool = True) -> Message:
    """Run one message through the gateway. Raises ChatterError for anything it refuses.

    enforce_limits=False skips a human's rate limit and slow mode (never the safety gate): only for
    staff tools re-sending messages that already passed them once, e.g. `replay` at a scaled speed."""
    started = time.perf_counter()
    try:
        room = room_get_cached(slug=draft.room)
        if draft.origin == Message.Origin.HUMAN:
            # A human's retry must not spend their rate limit; other producers' repeats are caught
            # by the unique constraint below (one query fewer on the hot path).
            existing = _existing_for_client_id(draft)
            if existing is not None:
                return existing  # the same client_id twice yields one message
            if draft.reply_to is not None and not Message.objects.filter(pk=draft.reply_to, room_id=room.pk).exists():
                raise ChatterError(ErrorCode.INVALID, "reply_to: no such message in this room")
            if user is not None:
                sanction_enforce(room=room, user_id=user.pk)
                emote_only_enforce(room=room, text=draft.text)
                if room_moderator_ids(room_id=room.pk, user_ids={user.pk}):
                    draft = draft_with_moderator_badge(draft)
            if enforce_limits:
                _enforce_human_limits(room=room, draft=draft)
        verdict = safety_check(
            draft.text,
            origin=draft.origin,
            rules=blocked_rules(),
            allowed_domains=settings.CHAT_ALLOWED_LINK_DOMAINS,
            max_length=settings.CHAT_MAX_MESSAGE_LENGTH,
        )
        if verdict.action == "drop":
            _record_safety(room=room, draft=draft, action=SafetyAction.Action.DROP, reasons=verdict.reasons)
            raise ChatterError(ErrorCode.BLOCKED, "message not sent: " + ", ".join(verdict.reasons))
        try:
            message = _persist(room=room, draft=draft, text=verdict.text, flags=list(verdict.flags), user=user)
        except IntegrityError:
            # Lost a race with the same client_id: the other attempt's message is the one.
            existing = _existing_for_client_id(draft)
            if existing is None:
                raise
            return existing
        if verdict.action == "sanitise":
            _record_safety(
                room=room, draft=draft, action=SafetyAction.Action.SANITISE, reasons=verdict.reasons, message=message
            )
        metrics.MESSAGES_INGESTED.labels(origin=draft.origin).inc()
        return message
    except ChatterError as error:
        metrics.MESSAGES_REFUSED.labels(code=error.code).inc()
        raise
    finally:
        metrics.INGEST_SECONDS.observe(time.perf_counter() - started)


def human_draft(*, user, room_slug: str, text: str, client_id: str, reply_to=None) -> MessageDraft:
    return draft_parse(
        {
            "room": room_slug,
            "origin": "human",
            "author": {"name": user.get_username()[:100], "color": user_color(user_id=user.pk), "badges": user_badges(user)},
            "author_key": f"user:{user.pk}",
            "text": text,
            "client_id": client_id,
            "reply_to": reply_to,
            "correlation_id": new_correlation_id(),
        }
    )


def conversations_close_idle(*, now=None) -> int:
    """End conversations idle longer than the threshold, so batch memory jobs see them as finished."""
    now = now or timezone.now()
    cutoff = now - timezone.timedelta(minutes=settings.CHAT_CONVERSATION_IDLE_MINUTES)
    return Conversation.objects.filter(ended_at__isnull=True, last_message_at__lt=cutoff).update(
        ended_at=F("last_message_at")
    )


def room_create(*, slug: str, title: str, description: str = "", is_live: bool = True) -> Room:
    room, _ = Room.objects.get_or_create(
        slug=slug, defaults={"title": title, "description": description, "is_live": is_live}
    )
    return room


def demo_room_seed() -> None:
    """The demo room `runchatter` opens on an empty database."""
    room_create(
        slug="demo",
        title="Demo stream",
        description="A live demo room: the cast chats about the scripted stream. Sign in to join them.",
    )


TRENDS_WINDOW_SECONDS = 60.0


def trends_snapshot_publish(*, room: Room, now=None) -> dict[str, Any]:
    """Compute the room's trends once (not once per agent) and publish them to chat.trends."""
    now = now or timezone.now()
    since = now - timezone.timedelta(seconds=TRENDS_WINDOW_SECONDS)
    rows = Message.objects.filter(room=room, created_at__gte=since).values_list(
        "author_key", "origin", "text", "created_at"
    )
    snapshot = trends_compute(
        room=room.slug,
        at=now,
        window_seconds=TRENDS_WINDOW_SECONDS,
        messages=(TrendInput(*row) for row in rows.iterator()),
    )
    snapshot = TrendsSnapshot.model_validate(snapshot).model_dump(mode="json")
    trends_publish(room_slug=room.slug, trends=snapshot)
    return snapshot


def trends_snapshot_all_live() -> int:
    rooms = list(Room.objects.filter(is_live=True))
    for room in rooms:
        trends_snapshot_publish(room=room)
    return len(rooms)
