"""Memory's writes (docs/architecture.md, "Memory"): `store` (memories in Mem0 and the ledger),
`recall` (the personas' fast path), `reflection`, `narratives` and `conversations`. Reads are in
memory.selectors, the Mem0 client in memory.mem0_client. This package re-exports what callers use.
"""
from __future__ import annotations

from memory.services.conversations import conversation_memories_batch, conversation_memories_enqueue, duration_parse
from memory.services.narratives import (
    narrative_cached,
    narrative_moderator_edit,
    narrative_read,
    narrative_regenerate,
    narrative_regeneration_enqueue,
    narratives_backfill,
    narratives_refresh_active,
)
from memory.services.recall import persona_memories_top_k, persona_narrative_cached
from memory.services.reflection import (
    reflection_flush,
    reflection_note,
    reflection_note_room,
    reflection_prioritize,
    reflection_request,
    reflection_retry,
    reflection_run,
    reflection_sweep,
)
from memory.services.store import (
    memories_fade,
    memories_mark_used,
    memory_delete,
    memory_moderator_edit,
    memory_recall,
    memory_text_refusal,
    memory_write,
)

__all__ = [
    "conversation_memories_batch",
    "conversation_memories_enqueue",
    "duration_parse",
    "memories_fade",
    "memories_mark_used",
    "memory_delete",
    "memory_moderator_edit",
    "memory_recall",
    "memory_text_refusal",
    "memory_write",
    "narrative_cached",
    "narrative_moderator_edit",
    "narrative_read",
    "narrative_regenerate",
    "narrative_regeneration_enqueue",
    "narratives_backfill",
    "narratives_refresh_active",
    "persona_memories_top_k",
    "persona_narrative_cached",
    "reflection_flush",
    "reflection_note",
    "reflection_note_room",
    "reflection_prioritize",
    "reflection_request",
    "reflection_retry",
    "reflection_run",
    "reflection_sweep",
]
