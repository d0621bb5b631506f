"""Writes for stream context: room ownership of a source, publishing, bounded history."""
from __future__ import annotations

import logging
import time
from datetime import datetime

import redis
from django.conf import settings
from django.db.models import Max

from chat.events import context_publish, firehose_key
from chat.models import Room
from chat.schemas import StreamContext
from chatter_site.lib.redis import redis_client
from streamctx.models import StreamContextRecord
from streamctx.types import ChatActivity

logger = logging.getLogger(__name__)

OWNER_TTL_SECONDS = 3600
PRUNE_EVERY = 50


def _owner_key(room_slug: str) -> str:
    return f"chatter:streamctx:owner:{room_slug}"


def stream_source_claim(*, room_slug: str, source_id: str) -> str | None:
    """Take the room over for this source; returns the source it took over from, if any."""
    previous = redis_client().set(_owner_key(room_slug), source_id, ex=OWNER_TTL_SECONDS, get=True)
    return previous.decode() if previous else None


def stream_source_claim_if_free(*, room_slug: str, source_id: str) -> bool:
    """Claim the room only when no source has it (runchatter's demo source never takes a room)."""
    return bool(redis_client().set(_owner_key(room_slug), source_id, ex=OWNER_TTL_SECONDS, nx=True))


def stream_source_owner(*, room_slug: str, client: redis.Redis | None = None) -> str | None:
    """The room's current source id; `client` for a process whose settings name no Redis (runchatter)."""
    owner = (client or redis_client()).get(_owner_key(room_slug))
    return owner.decode() if owner else None


def stream_source_release(*, room_slug: str, source_id: str) -> None:
    client = redis_client()
    if stream_source_owner(room_slug=room_slug) == source_id:
        client.delete(_owner_key(room_slug))


def stream_context_next_seq(*, room: Room) -> int:
    last = StreamContextRecord.objects.filter(room=room).aggregate(last=Max("seq"))["last"]
    return (last or 0) + 1


def stream_context_publish(*, room: Room, context: StreamContext, source_id: str) -> bool:
    """Publish to agents (Redis latest), viewers (a `context` frame) and the bounded history.

    Returns False, publishing nothing, when another source has taken the room over.
    """
    if stream_source_owner(room_slug=room.slug) != source_id:
        return False
    redis_client().expire(_owner_key(room.slug), OWNER_TTL_SECONDS)
    payload = context.model_dump(mode="json")
    StreamContextRecord.objects.create(
        room=room,
        seq=context.seq,
        at=context.at,
        source_id=source_id,
        payload=payload,
        event_kinds=sorted({event.kind for event in context.events}),
    )
    context_publish(room_slug=room.slug, context=payload)
    if context.seq % PRUNE_EVERY == 0:
        stream_context_prune(room=room, keep=settings.STREAMCTX_HISTORY)
    return True


def stream_context_prune(*, room: Room, keep: int) -> int:
    newest = StreamContextRecord.objects.filter(room=room).order_by("-seq").values_list("seq", flat=True)[keep : keep + 1]
    cutoff = list(newest)
    if not cutoff:
        return 0
    deleted, _ = StreamContextRecord.objects.filter(room=room, seq__lte=cutoff[0]).delete()
    return deleted


RECENT_SECONDS = 10
BASELINE_SECONDS = 120


def chat_activity_read(*, room_slug: str, now: datetime | None = None) -> ChatActivity:
    """Chat's message rate from the firehose (stream ids are millisecond timestamps)."""
    now_ms = int((now.timestamp() if now else time.time()) * 1000)
    entries = redis_client().xrange(firehose_key(room_slug), min=f"{now_ms - BASELINE_SECONDS * 1000}-0", count=20000)
    recent_floor = now_ms - RECENT_SECONDS * 1000
    recent = sum(1 for entry_id, _ in entries if int(entry_id.split(b"-")[0]) >= recent_floor)
    older = len(entries) - recent
    return ChatActivity(
        recent_per_minute=recent * 60 / RECENT_SECONDS,
        baseline_per_minute=older * 60 / (BASELINE_SECONDS - RECENT_SECONDS),
        recent_count=recent,
    )
