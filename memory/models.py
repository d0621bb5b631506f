"""Memory's own records: a ledger of what each scope remembers (mirroring Mem0, with history),
reflection jobs and their dead letters, per-conversation memories, and cached narratives."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from chat.models import Conversation
from chatter_site.lib.jobs import DurableJob


class MemoryItem(models.Model):
    """One durable memory of a scope (`room:{room}|agent:{handle}`), mirrored from Mem0.

    Mem0 holds the vectors; this table lets moderators browse and delete, keeps superseded
    memories as history, and makes writes idempotent through `dedupe_key`.
    """

    class Kind(models.TextChoices):
        RELATIONSHIP = "relationship"
        CATCHPHRASE = "catchphrase"
        PREFERENCE = "preference"
        LORE_EVENT = "lore_event"
        PERSONA_DRIFT = "persona_drift"

    class Confidence(models.TextChoices):
        LOW = "low"
        MED = "med"
        HIGH = "high"

    class Status(models.TextChoices):
        ACTIVE = "active"
        SUPERSEDED = "superseded", "Superseded (kept as history)"
        FADED = "faded", "Faded (unused for long)"
        DELETED = "deleted", "Deleted by a moderator"

    scope = models.CharField(max_length=160, db_index=True)
    room_slug = models.CharField(max_length=64, db_index=True)
    handle = models.CharField(max_length=64, db_index=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    text = models.TextField()
    other_user = models.CharField(max_length=100, blank=True, db_index=True)
    # For supersede: memories about the same subject (e.g. relationship with X) replace each other.
    subject = models.CharField(max_length=160, blank=True, db_index=True)
    confidence = models.CharField(max_length=4, choices=Confidence.choices, default=Confidence.MED)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    mem0_id = models.CharField(max_length=64, blank=True, db_index=True)
    dedupe_key = models.CharField(max_length=64, unique=True)
    superseded_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    source_job = models.ForeignKey("ReflectionJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="memories")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["scope", "status", "kind"], name="memory_item_scope_status")]

    def __str__(self) -> str:
        return f"[{self.kind}] {self.text[:60]}"


class ReflectionJob(DurableJob):
    """An asynchronous extraction of durable memories from what a persona witnessed: a durable job
    (chatter_site.lib.jobs) with its scope, seq range and priority.

    At-least-once: the Celery task may run twice; claiming is a conditional update and every
    memory it writes carries a dedupe key, so a redo stores nothing twice.
    """

    class Priority(models.IntegerChoices):
        MODERATOR = 0, "Moderator request"
        CHAT = 5, "Ordinary chat"
        SYSTEM = 9, "System event"

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed", "Failed, will retry"
        DEAD = "dead", "Dead letter"
        FOLDED = "folded", "Folded into another job"

    scope = models.CharField(max_length=160, db_index=True)
    room_slug = models.CharField(max_length=64)
    handle = models.CharField(max_length=64)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.CHAT)
    # The durable job's statuses plus FOLDED (another job of the scope took this one's range over).
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    # The witnessed messages this job covers, by seq (inclusive).
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    idempotency_key = models.CharField(max_length=120, unique=True)
    folded_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="folded")
    memories_written = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["priority", "created_at"]

    def __str__(self) -> str:
        return f"reflection {self.scope} seq {self.first_seq}–{self.last_seq} ({self.status})"


class ConversationMemory(models.Model):
    """One structured memory per finished conversation (SPEC 6.3)."""

    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="memory")
    data = models.JSONField()  # JSONB on PostgreSQL
    covered_last_seq = models.BigIntegerField(help_text="The conversation's last seq when this was written.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "conversation memories"

    def __str__(self) -> str:
        return f"memory of {self.conversation}"


class Narrative(models.Model):
    """A cached narrative: "who I am, my history here" for a persona, or a regular viewer's story."""

    class Subject(models.TextChoices):
        PERSONA = "persona"
        VIEWER = "viewer"

    subject_type = models.CharField(max_length=8, choices=Subject.choices)
    subject_key = models.CharField(max_length=100, help_text="Persona handle or viewer username.")
    text = models.TextField()
    source_count = models.PositiveIntegerField(default=0, help_text="Memories it was written from.")
    generated_at = models.DateTimeField()
    correlation_id = models.CharField(max_length=40, blank=True)
    # A moderator's version: kept (not regenerated over) until it is as old as the narrative TTL.
    edited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    edited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["subject_type", "subject_key"]
        constraints = [models.UniqueConstraint(fields=["subject_type", "subject_key"], name="memory_narrative_unique")]

    def __str__(self) -> str:
        return f"{self.subject_type} {self.subject_key}"
