"""Per-user rate limit (sliding window) and per-room slow mode, kept in Redis so every process agrees."""
from __future__ import annotations

import time
import uuid

from chatter_site.lib.redis import redis_client

# Atomic sliding-window log: drop entries older than the window, admit if under the limit.
_SLIDING_WINDOW = """
local key = KEYS[1]
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
if redis.call('ZCARD', key) >= limit then
  local oldest = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return tostring(oldest[2] + window - now)
end
redis.call('ZADD', key, now, ARGV[4])
redis.call('PEXPIRE', key, math.ceil(window * 1000))
return '0'
"""


def rate_limit_hit(*, key: str, limit: int, window_seconds: float) -> float:
    """Record one action; returns 0 when admitted, else the seconds until one is allowed again."""
    client = redis_client()
    retry_after = client.eval(
        _SLIDING_WINDOW, 1, f"chatter:rl:{key}", time.time(), window_seconds, limit, uuid.uuid4().hex
    )
    return float(retry_after)


def slow_mode_hit(*, room_slug: str, user_key: str, seconds: int) -> float:
    """0 when the user may post in slow mode now (and starts their cooldown), else seconds to wait."""
    client = redis_client()
    key = f"chatter:slow:{room_slug}:{user_key}"
    if client.set(key, "1", nx=True, ex=seconds):
        return 0.0
    ttl = client.pttl(key)
    return max(ttl, 0) / 1000


# One person's send: slow mode, then the sliding window, and only an admitted send spends either.
_SEND_ADMIT = """
local now = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local slow = tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {'rate_limited', tostring(oldest[2] + window - now)}
end
if slow > 0 then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl > 0 then
    return {'slow_mode', tostring(ttl / 1000)}
  end
  redis.call('SET', KEYS[2], '1', 'EX', slow)
end
redis.call('ZADD', KEYS[1], now, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(window * 1000))
return {'ok', '0'}
"""


def sends_admit(*, room_slug: str, user_keys: list[str], limit: int, window_seconds: float, slow_seconds: int) -> list[tuple[str, float]]:
    """The rate limit and slow mode of many sends in ONE Redis round trip (a pipeline of one script
    per send, run in order, so two sends of one person in the batch count twice). Per send:
    ("ok", 0) or ("rate_limited" | "slow_mode", seconds to wait)."""
    pipe = redis_client().pipeline(transaction=False)
    now = time.time()
    for user_key in user_keys:
        pipe.eval(
            _SEND_ADMIT, 2, f"chatter:rl:send:{user_key}", f"chatter:slow:{room_slug}:{user_key}",
            now, window_seconds, limit, uuid.uuid4().hex, slow_seconds,
        )
    return [(verdict.decode(), float(wait)) for verdict, wait in pipe.execute()]


def rate_limit_wait(*, key: str, limit: int, window_seconds: float) -> float:
    """Seconds until `key` is under `limit` again (0 when it is now), without recording anything."""
    client = redis_client()
    full_key = f"chatter:rl:{key}"
    now = time.time()
    client.zremrangebyscore(full_key, "-inf", now - window_seconds)
    if client.zcard(full_key) < limit:
        return 0.0
    oldest = client.zrange(full_key, 0, 0, withscores=True)
    return max(oldest[0][1] + window_seconds - now, 0.0) if oldest else 0.0


def rate_limit_clear(*, key: str) -> None:
    redis_client().delete(f"chatter:rl:{key}")
