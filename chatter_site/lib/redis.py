"""One Redis client per process (redis-py pools are fork-safe: they reconnect after a fork)."""
from __future__ import annotations

import redis
from django.conf import settings

from chatter_site.lib.errors import ChatterError, ErrorCode

_client: redis.Redis | None = None


def redis_client() -> redis.Redis:
    global _client
    if not settings.REDIS_CONFIGURED:
        raise ChatterError(ErrorCode.UNAVAILABLE, "Redis is not configured: set REDIS_URL or start `manage.py runchatter`")
    if _client is None:
        _client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=3, health_check_interval=30
        )
    return _client
