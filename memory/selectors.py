"""What personas read from memory on the fast path. Thin, fast, never blocking for long.

persona_memories_top_k searches the persona's own Mem0 scope (memory.store), bounded by
MEMORY_SEARCH_TIMEOUT; when memory is down it returns nothing and personas generate from their
anchors and the live context alone.
"""
from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.db.models import Count, Max

from chat.models import Message
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.metrics import counter, histogram
from memory.models import MemoryItem
from memory.narratives import narrative_cached, persona_known
from memory.store import MemoryHit, SearchBusy, SearchTimeout, memory_search

log = logging.getLogger("chatter.memory")

SEARCH_TOTAL = counter("chatter_memory_search_total", "Fast-path memory searches by outcome", ("outcome",))
SEARCH_SECONDS = histogram("chatter_memory_search_seconds", "Wall time of one fast-path memory search, ledger read included")
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
        hits = memory_search(
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


# --- persona page readers -------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaLine:
    room_slug: str
    room_title: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class PersonaProfile:
    """A persona's public face as chat showed it (name, colour, badges of its latest line).

    Built from chat's messages, not from personas.Persona: memory never imports personas.
    """

    handle: str
    name: str
    color: str
    badges: list[str]
    lines: list[PersonaLine]
    line_count: int


PERSONA_PAGE_LINES = 20
DEFAULT_COLOR = "#9147ff"
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")  # it lands in a style attribute: nothing else gets through


def persona_profile_get(*, handle: str, lines: int = PERSONA_PAGE_LINES) -> PersonaProfile | None:
    """None for a handle that never spoke and has no memories."""
    if not persona_known(handle=handle):
        return None
    authored = Message.objects.filter(author_key=f"bot:{handle}")
    recent = list(authored.select_related("room").order_by("-created_at")[:lines])
    latest = recent[0] if recent else None
    return PersonaProfile(
        handle=handle,
        name=latest.author_name if latest else handle,
        color=latest.author_color if latest and HEX_COLOR.fullmatch(latest.author_color or "") else DEFAULT_COLOR,
        badges=list(latest.author_badges or []) if latest else [],
        lines=[PersonaLine(m.room.slug, m.room.title, m.text, m.created_at) for m in recent],
        line_count=authored.count() if recent else 0,
    )


# --- memory ledger readers (prompt lines, admin history) --------------------------------------------


def memory_prompt_line(hit: MemoryHit) -> str:
    """One memory as the persona's prompt shows it; unverified ones say so."""
    kind, other, text = hit["kind"], hit["other_user"], hit["text"]
    if kind == MemoryItem.Kind.RELATIONSHIP:
        label = f"relationship with {other}" if other else "relationship"
    elif kind == MemoryItem.Kind.CATCHPHRASE:
        label = "running joke"
    elif kind == MemoryItem.Kind.PREFERENCE:
        label = f"{other}'s preference" if other else "preference"
    elif kind == MemoryItem.Kind.LORE_EVENT:
        label = "room lore"
    else:
        label = "how you changed"
    unverified = " (unverified)" if hit["confidence"] == MemoryItem.Confidence.LOW else ""
    return f"{label}: {text}{unverified}"


def memory_history(*, item: MemoryItem) -> list[MemoryItem]:
    """The supersede history `item` belongs to, oldest first: from the memory that replaced it
    (transitively) back through everything that one replaced."""
    head = item
    seen = {item.pk}
    while head.superseded_by_id and head.superseded_by_id not in seen:
        head = MemoryItem.objects.get(pk=head.superseded_by_id)
        seen.add(head.pk)
    ids, frontier = {head.pk}, [head.pk]
    while frontier:
        frontier = list(MemoryItem.objects.filter(superseded_by__in=frontier).exclude(pk__in=ids).values_list("pk", flat=True))
        ids.update(frontier)
    return list(MemoryItem.objects.filter(pk__in=ids).order_by("created_at", "id"))


@dataclass(frozen=True)
class ViewerActivity:
    messages: int
    rooms: int
    last_seen: datetime | None


def viewer_activity_get(*, user) -> ViewerActivity:
    totals = Message.objects.filter(user=user).aggregate(
        messages=Count("id"), rooms=Count("room", distinct=True), last_seen=Max("created_at")
    )
    return ViewerActivity(**totals)
