"""Narratives (SPEC 6.4; docs/architecture.md, "Memory", narratives): `reading` serves them and asks
for regenerations, `generation` writes them, `backfill` fills the cache for existing subjects. This
package re-exports what callers use.
"""
from __future__ import annotations

from memory.services.narratives.backfill import BackfillBatch, BackfillSummary, narratives_backfill
from memory.services.narratives.generation import (
    NARRATIVE_MAX_CHARS,
    NarrativeSources,
    RegenerateOutcome,
    narrative_hygiene,
    narrative_moderator_edit,
    narrative_regenerate,
    narrative_regenerate_outcome,
    narrative_sources,
    narratives_refresh_active,
)
from memory.services.narratives.reading import (
    narrative_cache_put,
    narrative_cached,
    narrative_read,
    narrative_regeneration_enqueue,
)

__all__ = [
    "NARRATIVE_MAX_CHARS",
    "BackfillBatch",
    "BackfillSummary",
    "NarrativeSources",
    "RegenerateOutcome",
    "narrative_cache_put",
    "narrative_cached",
    "narrative_hygiene",
    "narrative_moderator_edit",
    "narrative_read",
    "narrative_regenerate",
    "narrative_regenerate_outcome",
    "narrative_regeneration_enqueue",
    "narrative_sources",
    "narratives_backfill",
    "narratives_refresh_active",
]
