"""Living narrative documents (SPEC 7): one row per document, one row per stored version.

The text of every version lives in the "documents" storage (django-storages: S3 when
CHATTER_S3_BUCKET is set, the filesystem otherwise); `ScribeDocument.content` is a copy of the
current version written in the same transaction as its revision, so pages and the next update
never wait on S3.
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class ScribeDocument(models.Model):
    class Style(models.TextChoices):
        LITERARY = "literary", "Literary"
        FACTUAL = "factual", "Factual"
        CONVERSATIONAL = "conversational", "Conversational"

    class Status(models.TextChoices):
        IDLE = "idle", "Up to date"
        UPDATING = "updating", "Writing"
        ERROR = "error", "Last update failed"

    title = models.CharField(max_length=120)
    slug = models.SlugField(max_length=80, unique=True)
    room = models.ForeignKey("chat.Room", on_delete=models.CASCADE, related_name="scribe_documents")
    # The conversation that was open when the scribe started; the document follows the room after it.
    conversation = models.ForeignKey(
        "chat.Conversation", null=True, blank=True, on_delete=models.SET_NULL, related_name="scribe_documents"
    )
    style = models.CharField(max_length=16, choices=Style.choices, default=Style.LITERARY)
    enabled = models.BooleanField(default=True, help_text="A stopped scribe writes nothing.")
    # The seq of the last message folded in: the next update reads seq > cursor_seq.
    cursor_seq = models.BigIntegerField(default=0)
    version = models.PositiveIntegerField(default=0)
    content = models.TextField(blank=True, help_text="The current version's text (stored versions are the record).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.IDLE)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["room", "enabled"], name="scribe_doc_room_enabled")]

    def __str__(self) -> str:
        return self.title


class ScribeRevision(models.Model):
    class Kind(models.TextChoices):
        START = "start", "Started"
        UPDATE = "update", "Scribe update"
        EDIT = "edit", "Manual edit"
        RESTORE = "restore", "Restored"

    document = models.ForeignKey(ScribeDocument, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=Kind.choices)
    storage_key = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    # The messages an update folded in (seq first..last of the room); empty for start/edit/restore.
    first_seq = models.BigIntegerField(null=True, blank=True)
    last_seq = models.BigIntegerField(null=True, blank=True)
    turns = models.PositiveIntegerField(default=0)
    restored_from = models.PositiveIntegerField(null=True, blank=True)
    correlation_id = models.CharField(max_length=40, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # Where an update's time went (the benchmark reads these): the LLM call, and everything else.
    llm_ms = models.FloatField(null=True, blank=True)
    overhead_ms = models.FloatField(null=True, blank=True)
    # A moderator removed this version (its stored object is deleted; the row stays as history).
    redacted_at = models.DateTimeField(null=True, blank=True)
    redacted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    redaction_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["document", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["document", "version"], name="scribe_revision_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.document_id} v{self.version} ({self.kind})"

    @property
    def message_range(self) -> str:
        if self.first_seq is None:
            return ""
        return f"#{self.first_seq}" if self.first_seq == self.last_seq else f"#{self.first_seq}–#{self.last_seq}"
