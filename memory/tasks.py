"""Celery entry points of memory. Routed to the "reflection" queue (settings: "memory.tasks.*").

Thin: each parses ids, calls one service and returns. Every one is safe to run twice.
"""
from __future__ import annotations

from celery import shared_task


@shared_task(ignore_result=True, acks_late=True)
def reflection_run_task(job_id: int) -> str:
    """One attempt of a reflection job. acks_late with task_reject_on_worker_lost (settings): a worker
    killed mid-job leaves the message to be delivered again; the claim makes a second delivery of a
    running, done, dead or folded job return quietly, and the sweep recovers an expired lease."""
    from memory.reflection import reflection_run

    return reflection_run(job_id=job_id)


@shared_task(ignore_result=True)
def reflection_flush_task() -> int:
    """Beat `memory-reflection-flush`: pending ranges in Redis become jobs."""
    from memory.reflection import reflection_flush

    return reflection_flush()


@shared_task(ignore_result=True)
def reflection_sweep_task() -> dict[str, int]:
    """Beat `memory-reflection-sweep`: lost, due and forgotten jobs go back on the queue."""
    from memory.reflection import reflection_sweep

    return reflection_sweep()


# Conversation memories and narratives live in their own module; workers autodiscover
# `memory.tasks` only, so importing it here registers them (their names are memory.tasks.*).
from memory import tasks_batch  # noqa: E402,F401


@shared_task(ignore_result=True)
def memories_fade_task() -> int:
    """Beat `memory-jokes-fade`: running jokes unused for long fade out of retrieval."""
    from memory.store import memories_fade

    return memories_fade()
