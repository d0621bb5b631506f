"""Prometheus metrics of the scribe."""
from __future__ import annotations

from chatter_site.lib.metrics import counter, histogram

UPDATE_SECONDS = histogram(
    "chatter_scribe_update_seconds",
    "One scribe update by part: the LLM call, and everything else (reads, storage, commit, push)",
    ("part",),
)
UPDATES = counter("chatter_scribe_updates_total", "Scribe update attempts by outcome", ("outcome",))
TURNS_FOLDED = counter("chatter_scribe_turns_total", "Chat turns folded into scribe documents")
PUSH_FAILURES = counter("chatter_scribe_push_failures_total", "Document pushes to viewers that failed")
TRIGGERS = counter("chatter_scribe_triggers_total", "Update triggers from the firehose by what happened", ("outcome",))
GATED = counter("chatter_scribe_gated_total", "Scribe versions the safety gate changed before they were stored")
REDACTIONS = counter("chatter_scribe_redactions_total", "Published scribe versions a moderator removed")
REPAIRS = counter("chatter_scribe_repairs_total", "Answers accepted after mending a model's wrapping", ("kind",))
