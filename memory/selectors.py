"""What personas read from memory on the fast path. Thin, fast, never blocking for long.

The memory issue fills these with Mem0 retrieval and cached narratives; until then they return
nothing and personas generate from their anchors and the live context alone.
"""
from __future__ import annotations


def persona_memories_top_k(*, room_slug: str, handle: str, query: str, k: int = 5) -> list[str]:
    return []


def persona_narrative_cached(*, handle: str) -> str | None:
    return None
