"""Redis coordination for updates: the per-document lock, the dirty flag and the trigger index.

How it works: docs/architecture.md, "Inside the parts" › scribe/coordination.py."""
from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings

from chatter_site.lib import claims
from chatter_site.lib.redis import redis_client
from scribe.events import ENABLED_INDEX_READY_KEY, dirty_key, enabled_room_key, lock_key, queued_key, recheck_key

# A queued flag outlives any sane queue wait; if a task message were lost it only delays the next trigger.
QUEUED_TTL_SECONDS = 60
DIRTY_TTL_SECONDS = 3600

def lock_acquire(*, document_id: int) -> claims.HeldLock | None:
    """The document's lock, renewed while held; None when another update holds it."""
    return claims.lock_acquire(key=lock_key(document_id), ttl_seconds=settings.SCRIBE_LOCK_TTL_SECONDS)


def lock_holder(*, document_id: int) -> str | None:
    return claims.lock_holder(key=lock_key(document_id))


def lock_seconds_left(*, document_id: int) -> float | None:
    return claims.lock_seconds_left(key=lock_key(document_id))


def dirty_mark(*, document_id: int) -> None:
    claims.flag_set(key=dirty_key(document_id), seconds=DIRTY_TTL_SECONDS)


def dirty_clear(*, document_id: int) -> None:
    claims.flag_clear(key=dirty_key(document_id))


def dirty_take(*, document_id: int) -> bool:
    return claims.flag_take(key=dirty_key(document_id))


def recheck_claim(*, document_id: int, seconds: float) -> bool:
    """True once per `seconds` window: the caller schedules a delayed look at a locked document."""
    return claims.flag_claim(key=recheck_key(document_id), seconds=seconds)


def queued_clear(*, document_id: int) -> None:
    claims.flag_clear(key=queued_key(document_id))


def queued_claim(*, document_ids: Iterable[int]) -> list[int]:
    """The documents that had no update waiting in the queue; they now have one (the caller enqueues)."""
    ids = list(document_ids)
    claimed = claims.flag_claim_many(keys=[queued_key(document_id) for document_id in ids], seconds=QUEUED_TTL_SECONDS)
    return [document_id for document_id, ok in zip(ids, claimed) if ok]


# --- the enabled-documents index (room slug -> ids) ------------------------------------------------
def enabled_index_read(*, room_slug: str) -> list[int] | None:
    """The room's enabled document ids, or None when the index is missing (Redis was flushed)."""
    pipe = redis_client().pipeline(transaction=False)
    pipe.exists(ENABLED_INDEX_READY_KEY)
    pipe.smembers(enabled_room_key(room_slug))
    ready, members = pipe.execute()
    if not ready:
        return None
    return sorted(int(member) for member in members)


def enabled_index_set(*, room_slug: str, document_id: int, enabled: bool) -> None:
    client = redis_client()
    if enabled:
        client.sadd(enabled_room_key(room_slug), document_id)
    else:
        client.srem(enabled_room_key(room_slug), document_id)


def enabled_index_add(*, by_room: dict[str, list[int]]) -> None:
    pipe = redis_client().pipeline(transaction=False)
    for slug, ids in by_room.items():
        if ids:
            pipe.sadd(enabled_room_key(slug), *ids)
    pipe.execute()


def enabled_index_replace(*, by_room: dict[str, list[int]]) -> None:
    """Rewrite the whole index (startup, sweep, after a Redis flush)."""
    client = redis_client()
    stale = {key.decode() for key in client.scan_iter(enabled_room_key("*"), count=500)}
    pipe = client.pipeline(transaction=True)
    for key in stale - {enabled_room_key(slug) for slug in by_room}:
        pipe.delete(key)
    for slug, ids in by_room.items():
        key = enabled_room_key(slug)
        pipe.delete(key)
        if ids:
            pipe.sadd(key, *ids)
    pipe.set(ENABLED_INDEX_READY_KEY, "1")
    pipe.execute()
