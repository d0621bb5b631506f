"""Per-persona, per-room live counters in Redis: recent posts, recent lines, in-flight generations,
policy reasons. Every process (beat-driven ticks, workers, admin) sees the same numbers."""
from __future__ import annotations

import time

from chatter_site.lib.redis import redis_client

INFLIGHT_STALE_SECONDS = 30  # a generation older than this was lost (worker died): stop counting it
REASONS_TTL_SECONDS = 24 * 3600


def _posts_key(room_slug: str, handle: str) -> str:
    return f"chatter:persona:posts:{room_slug}:{handle}"


def _lines_key(room_slug: str, handle: str) -> str:
    return f"chatter:persona:lines:{room_slug}:{handle}"


def _inflight_key(room_slug: str) -> str:
    return f"chatter:persona:inflight:{room_slug}"


def reasons_key(handle: str) -> str:
    return f"chatter:persona:reasons:{handle}"


def post_record(*, room_slug: str, handle: str, line: str, at: float | None = None) -> None:
    at = at or time.time()
    pipe = redis_client().pipeline(transaction=False)
    pipe.zadd(_posts_key(room_slug, handle), {f"{at}": at})
    pipe.zremrangebyscore(_posts_key(room_slug, handle), "-inf", at - 300)
    pipe.expire(_posts_key(room_slug, handle), 600)
    pipe.lpush(_lines_key(room_slug, handle), line)
    pipe.ltrim(_lines_key(room_slug, handle), 0, 9)
    pipe.expire(_lines_key(room_slug, handle), 3600)
    pipe.execute()


def posts_stats(*, room_slug: str, handle: str, now: float | None = None) -> tuple[int, float | None]:
    """(posts in the last minute, seconds since the last post or None)."""
    now = now or time.time()
    client = redis_client()
    pipe = client.pipeline(transaction=False)
    pipe.zcount(_posts_key(room_slug, handle), now - 60, "+inf")
    pipe.zrevrange(_posts_key(room_slug, handle), 0, 0, withscores=True)
    count, last = pipe.execute()
    since = now - last[0][1] if last else None
    return int(count), since


def posts_stats_many(*, room_slug: str, handles: list[str], now: float | None = None) -> dict[str, tuple[int, float | None]]:
    """posts_stats for a whole cast in one Redis round trip (a tick asks for every persona)."""
    now = now or time.time()
    pipe = redis_client().pipeline(transaction=False)
    for handle in handles:
        pipe.zcount(_posts_key(room_slug, handle), now - 60, "+inf")
        pipe.zrevrange(_posts_key(room_slug, handle), 0, 0, withscores=True)
    replies = pipe.execute()
    stats = {}
    for index, handle in enumerate(handles):
        count, last = replies[2 * index], replies[2 * index + 1]
        stats[handle] = (int(count), now - last[0][1] if last else None)
    return stats


def recent_lines(*, room_slug: str, handle: str) -> list[str]:
    return [line.decode() for line in redis_client().lrange(_lines_key(room_slug, handle), 0, 9)]


def inflight_claim(*, room_slug: str, decision_id: str, limit: int, now: float | None = None) -> bool:
    """Take one of the room's generation slots, or refuse when all are taken."""
    now = now or time.time()
    key = _inflight_key(room_slug)
    client = redis_client()
    client.zremrangebyscore(key, "-inf", now - INFLIGHT_STALE_SECONDS)
    if client.zcard(key) >= limit:
        return False
    client.zadd(key, {decision_id: now})
    client.expire(key, INFLIGHT_STALE_SECONDS * 2)
    return True


def inflight_release(*, room_slug: str, decision_id: str) -> None:
    redis_client().zrem(_inflight_key(room_slug), decision_id)


def reasons_count(*, handle: str, reasons: list[str], outcome: str) -> None:
    reasons_count_many(decisions=[(handle, reasons, outcome)])


def reasons_count_many(*, decisions: list[tuple[str, list[str], str]]) -> None:
    """Count policy reasons for many decisions (handle, reasons, outcome) in one round trip."""
    pipe = redis_client().pipeline(transaction=False)
    for handle, reasons, outcome in decisions:
        for reason in reasons:
            pipe.hincrby(reasons_key(handle), reason, 1)
        pipe.hincrby(reasons_key(handle), f"outcome:{outcome}", 1)
        pipe.expire(reasons_key(handle), REASONS_TTL_SECONDS)
    pipe.execute()


def reasons_read(*, handle: str) -> dict[str, int]:
    return {key.decode(): int(value) for key, value in redis_client().hgetall(reasons_key(handle)).items()}
