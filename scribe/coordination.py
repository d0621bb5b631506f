"""Redis coordination for updates: the per-document lock, the dirty flag and the trigger index.

- The lock (SET NX PX with a token naming its holder) keeps two updates of one document from ever
  running at once. A heartbeat thread renews it while the update runs, so its TTL can be short: a
  worker killed mid-update frees the document within CHATTER_SCRIBE_LOCK_TTL seconds.
- A trigger that finds the lock taken sets the document's dirty flag and returns; the holder checks
  the flag after it lets go and enqueues another update, so no trigger is lost and nobody polls.
  In case the holder died instead, the trigger also schedules one delayed look per TTL window.
- The receiver of chat's signal runs on the gateway's hot path: it reads the room's enabled
  documents from a Redis set (no SQL per message) and coalesces triggers with a "queued" flag.

None of this is needed for correctness of the document: the cursor and the conditional commit in
scribe.services make a duplicate or concurrent update harmless. It is what keeps updates from
overlapping and bursts from becoming a queue of redundant tasks.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Iterable

from django.conf import settings

from chatter_site.lib.redis import redis_client
from scribe.events import ENABLED_INDEX_READY_KEY, dirty_key, enabled_room_key, lock_key, queued_key, recheck_key

logger = logging.getLogger("chatter.scribe")

# A queued flag outlives any sane queue wait; if a task message were lost it only delays the next trigger.
QUEUED_TTL_SECONDS = 60
DIRTY_TTL_SECONDS = 3600

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""


class DocumentLock:
    """A held lock on one document, renewed in the background until released."""

    def __init__(self, document_id: int, token: str, ttl_ms: int) -> None:
        self.document_id = document_id
        self.token = token
        self.ttl_ms = ttl_ms
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._renew_loop, name=f"scribe-lock-{document_id}", daemon=True)
        self._thread.start()

    def _renew_loop(self) -> None:
        interval = self.ttl_ms / 3000
        while not self._stop.wait(interval):
            try:
                if not redis_client().eval(_RENEW, 1, lock_key(self.document_id), self.token, self.ttl_ms):
                    self.lost = True
                    logger.warning("scribe lock lost document=%s", self.document_id)
                    return
            except Exception:
                logger.warning("scribe lock renewal failed document=%s", self.document_id, exc_info=True)

    def release(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        try:
            redis_client().eval(_RELEASE, 1, lock_key(self.document_id), self.token)
        except Exception:
            # It expires on its own within the TTL.
            logger.warning("scribe lock release failed document=%s", self.document_id, exc_info=True)


def lock_acquire(*, document_id: int) -> DocumentLock | None:
    # The token names the holder (host:pid), so an operator (or a test) can see who is writing.
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
    ttl_ms = int(settings.SCRIBE_LOCK_TTL_SECONDS * 1000)
    if not redis_client().set(lock_key(document_id), token, nx=True, px=ttl_ms):
        return None
    return DocumentLock(document_id, token, ttl_ms)


def lock_holder(*, document_id: int) -> str | None:
    value = redis_client().get(lock_key(document_id))
    return value.decode() if value else None


def dirty_mark(*, document_id: int) -> None:
    redis_client().set(dirty_key(document_id), "1", ex=DIRTY_TTL_SECONDS)


def dirty_clear(*, document_id: int) -> None:
    redis_client().delete(dirty_key(document_id))


def dirty_take(*, document_id: int) -> bool:
    return bool(redis_client().getdel(dirty_key(document_id)))


def recheck_claim(*, document_id: int, seconds: float) -> bool:
    """True once per `seconds` window: the caller schedules a delayed look at a locked document."""
    return bool(redis_client().set(recheck_key(document_id), "1", nx=True, px=max(1, int(seconds * 1000))))


def queued_clear(*, document_id: int) -> None:
    redis_client().delete(queued_key(document_id))


def queued_claim(*, document_ids: Iterable[int]) -> list[int]:
    """The documents that had no update waiting in the queue; they now have one (the caller enqueues)."""
    ids = list(document_ids)
    if not ids:
        return []
    pipe = redis_client().pipeline(transaction=False)
    for document_id in ids:
        pipe.set(queued_key(document_id), "1", nx=True, ex=QUEUED_TTL_SECONDS)
    return [document_id for document_id, claimed in zip(ids, pipe.execute()) if claimed]


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
