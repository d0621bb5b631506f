"""Per-persona, per-room live counters in Redis: recent posts, recent lines, in-flight generations,
policy reasons. Every process (beat-driven ticks, workers, admin) sees the same numbers."""
from __future__ import annotations

import json
import time

from chatter_site.lib import claims
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


# KEYS: each persona's posts key. ARGV: now. Returns per key: posts in the last minute, last post time
# (as a string, '' if none). One round trip and one command for a whole cast.
_POSTS_STATS_LUA = """
local out = {}
local since = tonumber(ARGV[1]) - 60
for i, key in ipairs(KEYS) do
  out[2 * i - 1] = redis.call('ZCOUNT', key, since, '+inf')
  local last = redis.call('ZREVRANGE', key, 0, 0, 'WITHSCORES')
  out[2 * i] = last[2] or ''
end
return out
"""


def posts_stats_many(*, room_slug: str, handles: list[str], now: float | None = None) -> dict[str, tuple[int, float | None]]:
    """posts_stats for a whole cast in one Redis command (a tick asks for every persona)."""
    now = now or time.time()
    if not handles:
        return {}
    replies = redis_client().register_script(_POSTS_STATS_LUA)(
        keys=[_posts_key(room_slug, handle) for handle in handles], args=[repr(now)]
    )
    stats = {}
    for index, handle in enumerate(handles):
        count, last = replies[2 * index], replies[2 * index + 1]
        stats[handle] = (int(count), now - float(last) if last else None)
    return stats


def recent_lines(*, room_slug: str, handle: str) -> list[str]:
    return [line.decode() for line in redis_client().lrange(_lines_key(room_slug, handle), 0, 9)]


def inflight_claim_many(*, room_slug: str, decision_ids: list[str], limit: int, now: float | None = None) -> int:
    """Take up to len(decision_ids) of the room's generation slots, in order; returns how many were taken."""
    return claims.slots_claim_many(
        key=_inflight_key(room_slug), members=decision_ids, limit=limit, stale_seconds=INFLIGHT_STALE_SECONDS, now=now
    )


def inflight_claim(*, room_slug: str, decision_id: str, limit: int, now: float | None = None) -> bool:
    """Take one of the room's generation slots, or refuse when all are taken."""
    return inflight_claim_many(room_slug=room_slug, decision_ids=[decision_id], limit=limit, now=now) == 1


def event_lead_claim(*, room_slug: str, event_key: str) -> bool:
    """True for the first caller per room and stream event (kept a minute): who may lead the reaction."""
    return claims.flag_claim(key=f"chatter:persona:event-lead:{room_slug}:{event_key}", seconds=60)


def inflight_release(*, room_slug: str, decision_id: str) -> None:
    claims.slot_release(key=_inflight_key(room_slug), member=decision_id)


# ARGV: TTL, then a JSON list of [handle, [field, ...]]. Each field of a handle's hash is incremented
# by one. The whole tick's counts are one command: thousands of separate HINCRBYs would cost the tick
# more than deciding does.
_REASONS_LUA = """
local ttl = tonumber(ARGV[1])
for _, item in ipairs(cjson.decode(ARGV[2])) do
  local key = 'chatter:persona:reasons:' .. item[1]
  for _, field in ipairs(item[2]) do redis.call('HINCRBY', key, field, 1) end
  redis.call('EXPIRE', key, ttl)
end
return 1
"""


def reasons_count_many(*, decisions: list[tuple[str, list[str], str]]) -> None:
    """Count policy reasons for many decisions (handle, reasons, outcome) in one Redis command."""
    if not decisions:
        return
    payload = json.dumps([[handle, [*reasons, f"outcome:{outcome}"]] for handle, reasons, outcome in decisions])
    # The script builds the keys itself (reasons_key's format): it is how one call covers a whole cast.
    redis_client().register_script(_REASONS_LUA)(keys=[], args=[REASONS_TTL_SECONDS, payload])


def reasons_read(*, handle: str) -> dict[str, int]:
    return {key.decode(): int(value) for key, value in redis_client().hgetall(reasons_key(handle)).items()}
