"""Memory's Prometheus metrics, defined once (docs/architecture.md, "Memory")."""
from __future__ import annotations

from chatter_site.lib.metrics import counter, histogram

MEMORY_WRITES = counter("chatter_memory_writes_total", "Memory writes by outcome", ("outcome",))
MEM0_WRITE_SECONDS = histogram("chatter_mem0_write_seconds", "One Mem0 add (embedding + vector store), successful or not")

SEARCH_TOTAL = counter("chatter_memory_search_total", "Fast-path memory searches by outcome", ("outcome",))
SEARCH_SECONDS = histogram("chatter_memory_search_seconds", "Wall time of one fast-path memory search, ledger read included")

NARRATIVE_CACHE_READS = counter(
    "chatter_narrative_cache_reads_total", "Narrative reads by cache outcome (hit: fresh in Redis)", ("outcome",)
)
NARRATIVE_GENERATION_SECONDS = histogram("chatter_narrative_generation_seconds", "One narrative's LLM call (regeneration)")

REFLECTION_RUNS = counter("chatter_reflection_runs_total", "Reflection job runs by outcome", ("outcome",))
REFLECTION_SECONDS = histogram("chatter_reflection_run_seconds", "Wall time of one reflection job run")
REFLECTION_WRITES = counter("chatter_reflection_memories_total", "Deltas from reflection by what became of them", ("outcome",))
