"""Group names, event payloads and the publishers of the chat streams (SPEC 4.1).

Senders and consumers both import from here, so names and payload shapes live in one place.
- broadcast: a channel-layer group per room; its members are the per-process hubs (chat.hub)
- chat.firehose: a capped Redis stream per room of everything that was broadcast
- `message_persisted`: an in-process signal other apps connect to in their AppConfig.ready()
"""
from __future__ import annotations

import json
import logging
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.dispatch import Signal

from chat import metrics
from chatter_site.lib.asyncbridge import run_coroutine
from chatter_site.lib.correlation import bind_correlation_id, reset_correlation_id as _reset_correlation
from chatter_site.lib.redis import redis_client

logger = logging.getLogger(__name__)

# Sent on commit with `room_slug` and `messages` (list of ChatMessage dicts). Receivers only enqueue.
message_persisted = Signal()

EVENT_MESSAGES = "room.messages"
EVENT_CONTEXT = "room.context"
EVENT_TRENDS = "room.trends"
EVENT_MODERATION = "room.moderation"
EVENT_SIGNED_OUT = "session.signed_out"
# Every process's hub listens here for sessions that ended (sign-out), whatever rooms it serves.
SESSIONS_GROUP = "chat.sessions"


def room_group(slug: str) -> str:
    return f"room.{slug}"


def firehose_key(slug: str) -> str:
    return f"chatter:firehose:{slug}"


def latest_trends_key(slug: str) -> str:
    return f"chatter:trends:{slug}"


def latest_context_key(slug: str) -> str:
    return f"chatter:context:{slug}"


def viewers_key(slug: str) -> str:
    return f"chatter:viewers:{slug}"


def _group_send(slug: str, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    try:
        run_coroutine(layer.group_send(room_group(slug), event), timeout=5.0)
    except Exception:
        # Persisted messages are never lost: hubs fill gaps from the database and clients resume.
        metrics.BROADCAST_FAILURES.inc()
        logger.exception("broadcast failed room=%s type=%s", slug, event.get("type"))


def messages_publish(
    *, room_slug: str, messages: list[dict[str, Any]], correlation_ids: dict[int, str] | None = None
) -> None:
    """Broadcast persisted messages to the room's viewers and append them to chat.firehose.

    `correlation_ids` (seq → id, not part of the public payload) go to the signal's receivers, and
    the newest one is bound while they run, so the work they enqueue carries it (SPEC 9)."""
    _group_send(room_slug, {"type": EVENT_MESSAGES, "items": messages})
    try:
        pipe = redis_client().pipeline(transaction=False)
        for message in messages:
            pipe.xadd(
                firehose_key(room_slug),
                {"m": json.dumps(message)},
                maxlen=settings.CHAT_FIREHOSE_MAXLEN,
                approximate=True,
            )
        pipe.execute()
    except Exception:
        metrics.BROADCAST_FAILURES.inc()
        logger.exception("firehose append failed room=%s", room_slug)
    correlation_ids = correlation_ids or {}
    newest_seq = messages[-1].get("seq") if messages else None
    newest = correlation_ids.get(newest_seq) if newest_seq is not None else None
    token = bind_correlation_id(newest) if newest else None
    try:
        message_persisted.send(sender=None, room_slug=room_slug, messages=messages, correlation_ids=correlation_ids)
    finally:
        if token is not None:
            _reset_correlation(token)


def trends_publish(*, room_slug: str, trends: dict[str, Any]) -> None:
    redis_client().set(latest_trends_key(room_slug), json.dumps(trends), ex=3600)
    _group_send(room_slug, {"type": EVENT_TRENDS, "trends": trends})


def context_publish(*, room_slug: str, context: dict[str, Any]) -> None:
    redis_client().set(latest_context_key(room_slug), json.dumps(context), ex=3600)
    _group_send(room_slug, {"type": EVENT_CONTEXT, "context": context})


def moderation_publish(*, room_slug: str, frame: dict[str, Any], close_user_id: int | None = None) -> None:
    """Broadcast a `moderation` frame to the room's viewers. `close_user_id`: a ban, whose target's
    sockets to this room the hubs close after sending the frame."""
    _group_send(room_slug, {"type": EVENT_MODERATION, "room": room_slug, "frame": frame, "close_user_id": close_user_id})


# A delete looks this far back in the firehose for the seqs it removes (entries arrive in commit order,
# which is seq order give or take the few messages committing at the same moment).
FIREHOSE_FORGET_SLACK = 200


def firehose_forget(*, room_slug: str, seqs: set[int] | None = None, upto: int | None = None) -> int:
    """Remove deleted messages from chat.firehose, the personas' chat window: the given seqs, or
    every seq up to `upto` (a clear). Returns how many entries went."""
    client = redis_client()
    key = firehose_key(room_slug)
    lowest = min(seqs) if seqs else None
    doomed: list[bytes] = []
    cursor = "+"
    while True:
        page = client.xrevrange(key, max=cursor, count=500)
        if cursor != "+":
            page = page[1:]  # the entry the cursor names was read on the previous page
        if not page:
            break
        for entry_id, fields in page:
            seq = json.loads(fields[b"m"]).get("seq", 0)
            if (seqs and seq in seqs) or (upto is not None and seq <= upto):
                doomed.append(entry_id)
        cursor = page[-1][0]
        last_seq = json.loads(page[-1][1][b"m"]).get("seq", 0)
        if lowest is not None and upto is None and last_seq < lowest - FIREHOSE_FORGET_SLACK:
            break
    if doomed:
        client.xdel(key, *doomed)
    return len(doomed)


def signed_out_publish(*, user_id: int, session_key: str | None) -> None:
    """A viewer signed out: every hub closes that session's sockets (all the user's, without a key)."""
    try:
        event = {"type": EVENT_SIGNED_OUT, "user_id": user_id, "session_key": session_key}
        run_coroutine(get_channel_layer().group_send(SESSIONS_GROUP, event), timeout=5.0)
    except Exception:
        metrics.BROADCAST_FAILURES.inc()
        logger.exception("sign-out broadcast failed user=%s", user_id)
