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
