"""Logging filters that drop library messages known to be harmless here (settings.LOGGING wires them).

Each entry names the exact message it drops, so any other warning from the same logger still shows.
"""
from __future__ import annotations

import logging

# Mem0 warns on every Memory() built on a store without BM25 (Chroma): semantic search is what we
# configured, not a degradation.
KNOWN_HARMLESS = ("The '%s' vector store does not support keyword search",)


class DropKnownHarmless(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.msg, str) and record.msg.startswith(KNOWN_HARMLESS))
