"""Every Redis key memory uses, in one place (docs/architecture.md, "Memory")."""
from __future__ import annotations

# Narratives: the cached text (a regeneration's state is its durable job's row, memory/jobs.py).
NARRATIVE_CACHE_KEY = "chatter:narrative:{subject_type}:{subject_key}"
UNKNOWN_PERSONA_KEY = "chatter:unknown-persona:{handle}"
# A regeneration's lease: a crashed one is sent again by the jobs sweep after it.
NARRATIVE_LOCK_SECONDS = 300

# Reflection: pending ranges, ranges taken out of Redis until their job row exists, room cursors.
PENDING_INDEX_KEY = "chatter:reflection:pending"  # ZSET: scope -> time its range was first noted
PENDING_KEY = "chatter:reflection:pending:{scope}"  # HASH: min, max, count, first_at, room, handle
TAKEN_KEY = "chatter:reflection:taken"  # HASH: idempotency key -> the range, until its job row exists
NOTED_KEY_PREFIX = "chatter:reflection:noted:"  # STRING per room: the last seq whose witnesses were noted
DELTAS_KEY = "chatter:reflection:deltas:{job_id}:{first_seq}-{last_seq}"  # a job's validated answer

# Conversation memories: one writer per conversation (a batch's progress is its job's result).
CONVERSATION_LOCK_KEY = "chatter:convmem:lock:{conversation_id}"


def narrative_cache_key(subject_type: str, subject_key: str) -> str:
    return NARRATIVE_CACHE_KEY.format(subject_type=subject_type, subject_key=subject_key)


def pending_key(scope: str) -> str:
    return PENDING_KEY.format(scope=scope)


def noted_key(room_slug: str) -> str:
    return f"{NOTED_KEY_PREFIX}{room_slug}"
