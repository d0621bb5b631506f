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
from chatter_site.lib.redis import redis_client

logger = logging.getLogger(__name__)

# Sent on commit with `room_slug` and `messages` (list of ChatMessage dicts). Receivers only enqueue.
message_persisted = Signal()

EVENT_MESSAGES = "room.messages"
EVENT_CONTEXT = "room.context"
EVENT_TRENDS = "room.trends"


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


def messages_publish(*, room_slug: str, messages: list[dict[str, Any]]) -> None:
    """Broadcast persisted messages to the room's viewers and append them to chat.firehose."""
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
    message_persisted.send(sender=None, room_slug=room_slug, messages=messages)


def trends_publish(*, room_slug: str, trends: dict[str, Any]) -> None:
    redis_client().set(latest_trends_key(room_slug), json.dumps(trends), ex=3600)
    _group_send(room_slug, {"type": EVENT_TRENDS, "trends": trends})


def context_publish(*, room_slug: str, context: dict[str, Any]) -> None:
    redis_client().set(latest_context_key(room_slug), json.dumps(context), ex=3600)
    _group_send(room_slug, {"type": EVENT_CONTEXT, "context": context})
