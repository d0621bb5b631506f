"""Small Redis claims for work that needs no row (docs/architecture.md, "Durable jobs and claims").

- A token lock (SET NX PX, the value names its holder) renewed by a heartbeat while held: a holder
  that dies frees it within its TTL; release and renewal only touch the lock while it is still ours.
- A flag with a window: `flag_claim` is true once per window (SET NX PX), `flag_set`/`flag_take`
  mark and consume ("there is more to do").
- Slots: at most `limit` holders of one pool at a time, stale holders dropped, claimed as one step.

Work that must happen exactly once is a durable job (chatter_site.lib.jobs), not a claim.
"""
from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Sequence

from chatter_site.lib.redis import redis_client

log = logging.getLogger("chatter.claims")

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end
"""
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end
"""
# KEYS: the pool. ARGV: limit, now, stale before, ttl, then members in order of preference. Drops
# stale holders, then claims as many members as there are free slots, as one step (two callers can
# never both take the last slot). Returns the number claimed: the first that many members hold one.
_SLOTS_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local free = tonumber(ARGV[1]) - redis.call('ZCARD', KEYS[1])
local claimed = 0
for i = 5, #ARGV do
  if claimed >= free then break end
  redis.call('ZADD', KEYS[1], ARGV[2], ARGV[i])
  claimed = claimed + 1
end
if claimed > 0 then redis.call('EXPIRE', KEYS[1], ARGV[4]) end
return claimed
"""


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))


class HeldLock:
    """A held token lock, renewed in the background (every third of its TTL) until released."""

    def __init__(self, key: str, token: str, ttl_ms: int, *, renew: bool = True) -> None:
        self.key = key
        self.token = token
        self.ttl_ms = ttl_ms
        self.lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if renew:
            self._thread = threading.Thread(target=self._renew_loop, name=f"lock-{key}", daemon=True)
            self._thread.start()

    def _renew_loop(self) -> None:
        interval = self.ttl_ms / 3000
        while not self._stop.wait(interval):
            try:
                if not self.renew():
                    log.warning("lock lost key=%s", self.key)
                    return
            except Exception:
                log.warning("lock renewal failed key=%s", self.key, exc_info=True)

    def renew(self) -> bool:
        """Extend the TTL while the lock is still ours; False (and `lost`) when it is not."""
        if not redis_client().eval(_RENEW, 1, self.key, self.token, self.ttl_ms):
            self.lost = True
        return not self.lost

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        try:
            redis_client().eval(_RELEASE, 1, self.key, self.token)
        except Exception:
            # It expires on its own within the TTL.
            log.warning("lock release failed key=%s", self.key, exc_info=True)


def lock_acquire(*, key: str, ttl_seconds: float, renew: bool = True) -> HeldLock | None:
    """The lock, or None when someone holds it. The token names the holder (host:pid:random)."""
    token = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(6)}"
    ttl_ms = _ms(ttl_seconds)
    if not redis_client().set(key, token, nx=True, px=ttl_ms):
        return None
    return HeldLock(key, token, ttl_ms, renew=renew)


def lock_holder(*, key: str) -> str | None:
    value = redis_client().get(key)
    if not value:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def lock_seconds_left(*, key: str) -> float | None:
    """How long the lock has before it runs out, or None when nobody holds it."""
    left_ms = redis_client().pttl(key)
    return left_ms / 1000 if left_ms and left_ms > 0 else None


def flag_claim(*, key: str, seconds: float) -> bool:
    """True for the first caller per window of `seconds`."""
    return bool(redis_client().set(key, "1", nx=True, px=_ms(seconds)))


def flag_claim_many(*, keys: Sequence[str], seconds: float) -> list[bool]:
    """flag_claim for many keys in one round trip, in order."""
    if not keys:
        return []
    pipe = redis_client().pipeline(transaction=False)
    for key in keys:
        pipe.set(key, "1", nx=True, px=_ms(seconds))
    return [bool(claimed) for claimed in pipe.execute()]


def flag_set(*, key: str, seconds: float) -> None:
    """Raise the flag (again) for `seconds`."""
    redis_client().set(key, "1", px=_ms(seconds))


def flag_take(*, key: str) -> bool:
    """Lower the flag; True when it was raised."""
    return bool(redis_client().getdel(key))


def flag_clear(*, key: str) -> None:
    redis_client().delete(key)


def slots_claim_many(*, key: str, members: Sequence[str], limit: int, stale_seconds: float, now: float | None = None) -> int:
    """Take up to len(members) of the pool's `limit` slots, in order; returns how many were taken.

    A holder older than `stale_seconds` (it never released) no longer counts."""
    if not members:
        return 0
    now = now or time.time()
    return int(
        redis_client().register_script(_SLOTS_CLAIM)(
            keys=[key], args=[limit, repr(now), repr(now - stale_seconds), int(stale_seconds * 2), *members]
        )
    )


def slot_release(*, key: str, member: str) -> None:
    redis_client().zrem(key, member)
