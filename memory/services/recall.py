"""What personas take from memory on the fast path (docs/architecture.md, "Memory"): their own
closest memories (marked used) and their cached narrative. Never blocking for long, never raising.
"""
from __future__ import annotations

import logging
import time

from django.conf import settings

from chatter_site.lib.errors import ChatterError
from memory.mem0_client import SearchBusy, SearchTimeout
from memory.metrics import SEARCH_SECONDS, SEARCH_TOTAL
from memory.models import MemoryItem
from memory.selectors import MemoryHit, memory_prompt_line
from memory.services.narratives.reading import narrative_cached
from memory.services.store import memory_recall

log = logging.getLogger("chatter.memory")

# What a persona's prompt gets; drift snapshots are checkpoints of knobs and mood, not things to say.
PROMPT_KINDS = [
    MemoryItem.Kind.RELATIONSHIP, MemoryItem.Kind.CATCHPHRASE, MemoryItem.Kind.PREFERENCE, MemoryItem.Kind.LORE_EVENT,
]


def persona_memories_top_k(*, room_slug: str, handle: str, query: str, k: int = 5) -> list[str]:
    """Up to `k` of the persona's own memories in this room closest to `query`, as short prompt lines
    ("relationship with nina: ...", best first).

    Never raises and never waits on Mem0 longer than MEMORY_SEARCH_TIMEOUT: a slow or unreachable
    store (or embedder) gives [] and the persona generates without memories. Counted in
    chatter_memory_search_total{outcome} (ok | empty | timeout | busy | unavailable | error) and
    chatter_memory_search_seconds.
    """
    if k <= 0 or not query.strip():
        return []
    started = time.perf_counter()
    outcome = "ok"
    hits: list[MemoryHit] = []
    try:
        hits = memory_recall(
            room_slug=room_slug, handle=handle, query=query, k=k, kinds=PROMPT_KINDS, timeout=settings.MEMORY_SEARCH_TIMEOUT
        )
        outcome = "ok" if hits else "empty"
    except SearchTimeout:
        outcome = "timeout"
    except SearchBusy:
        outcome = "busy"
    except ChatterError as error:
        outcome = "unavailable"
        _warn_now_and_then(f"memory: searches unavailable ({error.message}); personas go on without memories")
    except Exception:  # the fast path must go on without memories, whatever broke
        outcome = "error"
        log.exception("memory: search for %s in %s failed", handle, room_slug)
    finally:
        SEARCH_SECONDS.observe(time.perf_counter() - started)
        SEARCH_TOTAL.labels(outcome=outcome).inc()
    return [memory_prompt_line(hit) for hit in hits]


_last_warning = 0.0
WARNING_INTERVAL = 60.0


def _warn_now_and_then(message: str) -> None:
    # A store that is down fails every persona line: one warning a minute says it well enough.
    global _last_warning
    if time.monotonic() - _last_warning >= WARNING_INTERVAL:
        _last_warning = time.monotonic()
        log.warning(message)


def persona_narrative_cached(*, handle: str) -> str | None:
    """The persona's cached narrative (one Redis GET), or None while one is being (re)generated."""
    return narrative_cached(subject_type="persona", subject_key=handle)
