"""Writes for the scribe (SPEC 7): a moderator's actions on documents (documents.py), the update
(update.py) and what follows a change (triggers.py). Callers import from here."""
from __future__ import annotations

from scribe.services.documents import (
    TITLE_MAX,
    document_edit,
    document_restore,
    document_start,
    document_toggle,
    revision_redact,
)
from scribe.services.triggers import (
    document_forget,
    document_trigger,
    room_messages_trigger,
    scribe_index_rebuild,
    scribe_sweep,
)
from scribe.services.update import ScribeTransientError, StepReport, UpdateReport, document_update_run

__all__ = [
    "TITLE_MAX",
    "ScribeTransientError",
    "StepReport",
    "UpdateReport",
    "document_edit",
    "document_forget",
    "document_restore",
    "document_start",
    "document_toggle",
    "document_trigger",
    "document_update_run",
    "revision_redact",
    "room_messages_trigger",
    "scribe_index_rebuild",
    "scribe_sweep",
]
