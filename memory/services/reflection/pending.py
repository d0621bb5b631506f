"""Reflection's pending ranges (docs/architecture.md, "Memory", reflection steps 1 and 2): witnessed
seqs noted in Redis behind a room cursor, and the flush that turns full or old ranges into jobs.
"""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from chat.models import Message
from chatter_site.lib.correlation import new_correlation_id
from chatter_site.lib.redis import redis_client
from memory import enqueue
from memory.keys import PENDING_INDEX_KEY, TAKEN_KEY, noted_key, pending_key
from memory.mem0_client import scope_for
from memory.models import ReflectionJob

log = logging.getLogger("chatter.memory.reflection")

TAKEN_RECOVER_AFTER_SECONDS = 60  # a parked range older than this was left by a flusher that died

# Notes several scopes' witnessed seqs at once and, when guarded, moves the room's "noted up to" cursor
# in the same step: two collectors can never note one message twice, and a crash between noting and
# moving the cursor cannot happen.
# KEYS: index, room cursor, then one pending hash per scope.
# ARGV: now, room, expected cursor ('' = no guard, '-' = must be absent), new cursor ('' = leave),
#       then per scope: scope, handle, min seq, max seq, count.
_NOTE_LUA = """
local expected = ARGV[3]
if expected ~= '' then
  local current = redis.call('GET', KEYS[2])
  if expected == '-' then
    if current then return 0 end
  elseif current ~= expected then
    return 0
  end
end
for i = 3, #KEYS do
  local base = 5 + (i - 3) * 5
  local h = KEYS[i]
  local low = redis.call('HGET', h, 'min')
  if (not low) or tonumber(ARGV[base + 2]) < tonumber(low) then redis.call('HSET', h, 'min', ARGV[base + 2]) end
  local high = redis.call('HGET', h, 'max')
  if (not high) or tonumber(ARGV[base + 3]) > tonumber(high) then redis.call('HSET', h, 'max', ARGV[base + 3]) end
  redis.call('HINCRBY', h, 'count', ARGV[base + 4])
  redis.call('HSETNX', h, 'first_at', ARGV[1])
  redis.call('HSET', h, 'room', ARGV[2], 'handle', ARGV[base + 1])
  redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[base])
end
if ARGV[4] ~= '' then redis.call('SET', KEYS[2], ARGV[4]) end
return 1
"""

# KEYS: pending hash, index, taken hash. ARGV: scope, min count, noted-before time, force, now.
# Returns the range as JSON, parked in the taken hash under its idempotency key; nil if the range
# is neither full nor old enough (or gone). Read, delete and park happen as one step, so two
# flushers can never both turn one range into a job.
_TAKE_LUA = """
local h = KEYS[1]
if redis.call('EXISTS', h) == 0 then
  redis.call('ZREM', KEYS[2], ARGV[1])
  return false
end
local count = tonumber(redis.call('HGET', h, 'count') or '0')
local first_at = tonumber(redis.call('HGET', h, 'first_at') or '0')
if ARGV[4] ~= '1' and count < tonumber(ARGV[2]) and first_at > tonumber(ARGV[3]) then
  return false
end
local range = {
  scope = ARGV[1],
  room = redis.call('HGET', h, 'room'),
  handle = redis.call('HGET', h, 'handle'),
  first_seq = tonumber(redis.call('HGET', h, 'min')),
  last_seq = tonumber(redis.call('HGET', h, 'max')),
  count = count,
  first_at = first_at,
  taken_at = tonumber(ARGV[5]),
}
range.key = ARGV[1] .. ':' .. redis.call('HGET', h, 'min') .. '-' .. redis.call('HGET', h, 'max')
local value = cjson.encode(range)
redis.call('HSET', KEYS[3], range.key, value)
redis.call('DEL', h)
redis.call('ZREM', KEYS[2], ARGV[1])
return value
"""


def reflection_idempotency_key(*, scope: str, first_seq: int, last_seq: int) -> str:
    return f"{scope}:{first_seq}-{last_seq}"


# --- 1. witnessed seqs are noted ------------------------------------------------------------------


def _run_note(*, room_slug: str, witnessed: dict[str, list[int]], expected: str, new_cursor: str) -> bool:
    keys = [PENDING_INDEX_KEY, noted_key(room_slug)]
    args: list[str | int] = [f"{time.time():.3f}", room_slug, expected, new_cursor]
    for handle, seqs in witnessed.items():
        if not seqs:
            continue
        scope = scope_for(room_slug, handle)
        keys.append(pending_key(scope))
        args.extend([scope, handle, min(seqs), max(seqs), len(seqs)])
    # EVALSHA (the script is sent once per connection pool, on a NOSCRIPT miss).
    return bool(redis_client().register_script(_NOTE_LUA)(keys=keys, args=args))


def reflection_note(*, room_slug: str, handle: str, seqs: list[int]) -> None:
    """Add witnessed message seqs to one scope's pending range (one Redis call)."""
    if seqs:
        _run_note(room_slug=room_slug, witnessed={handle: seqs}, expected="", new_cursor="")


def reflection_note_room(*, room_slug: str, after_seq: int | None, up_to_seq: int, witnessed: dict[str, list[int]]) -> bool:
    """Note the room's messages (after_seq, up_to_seq] for the personas that witnessed them and move the
    room's cursor to up_to_seq, as one step. `after_seq` is the cursor the caller read (None: absent).
    Returns False, noting nothing, when another collector moved the cursor in between."""
    expected = "-" if after_seq is None else str(after_seq)
    return _run_note(room_slug=room_slug, witnessed=witnessed, expected=expected, new_cursor=str(up_to_seq))


# --- 2. pending ranges become jobs ------------------------------------------------------------------


def reflection_resend_deadline(now: datetime) -> datetime:
    """For a pending job: when the sweep sends it again if no worker has started it by then."""
    return now + timedelta(seconds=settings.REFLECTION_LEASE_SECONDS)


def reflection_job_from_range(item: dict[str, Any], *, priority: int) -> tuple[ReflectionJob, bool]:
    now = timezone.now()
    key = reflection_idempotency_key(scope=item["scope"], first_seq=item["first_seq"], last_seq=item["last_seq"])
    return ReflectionJob.objects.get_or_create(
        idempotency_key=key,
        defaults={
            "scope": item["scope"],
            "room_slug": item["room"],
            "handle": item["handle"],
            "priority": priority,
            "first_seq": item["first_seq"],
            "last_seq": item["last_seq"],
            "max_attempts": settings.REFLECTION_MAX_ATTEMPTS,
            "next_attempt_at": reflection_resend_deadline(now),
            "correlation_id": _first_message_correlation(room_slug=item["room"], seq=item["first_seq"]) or new_correlation_id(),
        },
    )


def _first_message_correlation(*, room_slug: str, seq: int) -> str:
    """A job carries the id of the first message it reflects on, so its trail starts at that message."""
    return Message.objects.filter(room__slug=room_slug, seq=seq).values_list("correlation_id", flat=True).first() or ""


def reflection_range_settle(key: str, value: bytes | str, *, priority: int) -> ReflectionJob:
    """A range taken out of Redis becomes its job row (idempotent), is sent, and leaves the taken hash."""
    item = json.loads(value)
    job, created = reflection_job_from_range(item, priority=priority)
    if job.status == ReflectionJob.Status.PENDING:
        # A re-send of an existing pending job (a flusher died after creating it) is harmless:
        # whichever message comes second finds the job claimed and returns.
        enqueue.reflection_run_send(job)
    redis_client().hdel(TAKEN_KEY, key)
    if created:
        log.info("reflection job created job=%s scope=%s seq=%s-%s messages=%s", job.pk, job.scope, job.first_seq, job.last_seq, item.get("count"))
    return job


def reflection_range_take(scope: str, *, force: bool, now: float) -> tuple[str, bytes] | None:
    value = redis_client().register_script(_TAKE_LUA)(
        keys=[pending_key(scope), PENDING_INDEX_KEY, TAKEN_KEY],
        args=[scope, settings.REFLECTION_BATCH_MESSAGES, f"{now - settings.REFLECTION_FLUSH_SECONDS:.3f}", "1" if force else "0", f"{now:.3f}"],
    )
    if value is None:
        return None
    return json.loads(value)["key"], value


def reflection_flush(*, now: float | None = None, force: bool = False) -> int:
    """Beat: turn full or old pending ranges into jobs and send them. Returns the number of jobs made."""
    now = now or time.time()
    client = redis_client()
    settled = 0
    for key, value in client.hgetall(TAKEN_KEY).items():
        if json.loads(value).get("taken_at", 0) < now - TAKEN_RECOVER_AFTER_SECONDS:
            reflection_range_settle(key.decode(), value, priority=ReflectionJob.Priority.CHAT)  # type: ignore[arg-type]  # a Django choice: typed as its (value, label) tuple without django-stubs
            settled += 1
    for raw_scope in client.zrange(PENDING_INDEX_KEY, 0, -1):
        taken = reflection_range_take(raw_scope.decode(), force=force, now=now)
        if taken is not None:
            reflection_range_settle(*taken, priority=ReflectionJob.Priority.CHAT)  # type: ignore[arg-type]  # a Django choice: typed as its (value, label) tuple without django-stubs
            settled += 1
    return settled
