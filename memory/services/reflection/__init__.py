"""Reflection: what a persona witnessed becomes durable memories, asynchronously (SPEC 6.2;
docs/architecture.md, "Memory", the five steps). `pending` notes and flushes, `worker` runs a job,
`jobs` holds requests, staff actions and the sweep. This package re-exports what callers use.
"""
from __future__ import annotations

from memory.services.reflection.jobs import (
    reflection_prioritize,
    reflection_request,
    reflection_retry,
    reflection_sweep,
)
from memory.services.reflection.pending import (
    TAKEN_RECOVER_AFTER_SECONDS,
    reflection_flush,
    reflection_idempotency_key,
    reflection_note,
    reflection_note_room,
)
from memory.services.reflection.worker import (
    CleanDelta,
    MemoryDelta,
    ReflectionAnswer,
    reflection_dedupe_key,
    reflection_hygiene,
    reflection_run,
)

__all__ = [
    "TAKEN_RECOVER_AFTER_SECONDS",
    "CleanDelta",
    "MemoryDelta",
    "ReflectionAnswer",
    "reflection_dedupe_key",
    "reflection_flush",
    "reflection_hygiene",
    "reflection_idempotency_key",
    "reflection_note",
    "reflection_note_room",
    "reflection_prioritize",
    "reflection_request",
    "reflection_retry",
    "reflection_run",
    "reflection_sweep",
]
