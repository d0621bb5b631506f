"""Reflection (SPEC 6.2): what a persona witnessed becomes durable memories, asynchronously.

1. Noting, off the chat path: a beat (personas' `witnessed_collect`, which knows the rosters) reads
   each room's messages since the room's cursor and calls `reflection_note_room`: one Lua call adds
   the witnessed seqs to every scope's pending range (min/max seq, count, first-noted time) and
   moves the cursor in the same step, so nothing is noted twice. The chat path itself adds nothing.
2. Beat `memory-reflection-flush`: `reflection_flush` takes every range that is full
   (REFLECTION_BATCH_MESSAGES) or old (REFLECTION_FLUSH_SECONDS) out of Redis atomically and makes
   it a ReflectionJob (idempotency key `{scope}:{first}-{last}`), sent to the "reflection" queue
   with the job's priority. A range is parked under its key in a "taken" hash until its row exists,
   so a flusher dying in between loses nothing: the next flush finishes the work.
3. Worker: `reflection_run` claims the job with a conditional UPDATE (a lease), folds the scope's
   other pending jobs into it when the queue is behind, asks the LLM for durable deltas (JSON,
   validated), applies hygiene, and writes each through `memory_write` with a dedupe key derived
   from the job, so a redo (at-least-once delivery, a lost worker) writes nothing twice. The
   validated deltas are kept in Redis until the job is done, so a redo after a partial write
   stores the same memories rather than a second, differently worded set.
4. Failure: FAILED with exponential backoff and jitter, re-sent with a countdown; after
   `max_attempts`, DEAD: the dead letter staff retry from admin.
5. Beat `memory-reflection-sweep`: jobs whose worker died (lease expired), failed jobs past their
   retry time and pending jobs whose message never ran are sent again, so nothing is lost even
   when a broker message is.

Steps 1 and 2 (pending ranges in Redis and the flush that turns them into jobs) live in
`pending.py`; explicit requests, the worker, staff actions, the sweep and the reads for the status
endpoint (`reflection_status`) live in `jobs.py`. This package re-exports what callers use.
"""
from __future__ import annotations

from memory.reflection.jobs import (
    CleanDelta,
    MemoryDelta,
    ReflectionAnswer,
    _broker_queue_length,
    reflection_dedupe_key,
    reflection_hygiene,
    reflection_prioritize,
    reflection_request,
    reflection_retry,
    reflection_run,
    reflection_status,
    reflection_sweep,
)
from memory.reflection.pending import (
    TAKEN_RECOVER_AFTER_SECONDS,
    _take,
    reflection_flush,
    reflection_idempotency_key,
    reflection_last_job_seq,
    reflection_note,
    reflection_note_room,
    reflection_noted_seq,
    reflection_pending,
)

# The private names above are what the tests read through the package. `_send` is not re-exported on
# purpose: a test replaces it where it is looked up (`pending` and `jobs`); a patch here would do nothing.
__all__ = [
    "CleanDelta",
    "MemoryDelta",
    "ReflectionAnswer",
    "reflection_dedupe_key",
    "reflection_flush",
    "reflection_hygiene",
    "reflection_idempotency_key",
    "reflection_last_job_seq",
    "reflection_note",
    "reflection_note_room",
    "reflection_noted_seq",
    "reflection_pending",
    "reflection_prioritize",
    "reflection_request",
    "reflection_retry",
    "reflection_run",
    "reflection_status",
    "reflection_sweep",
]
