"""Rooms, their conversations and messages, and the moderator-editable safety rules."""
from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone

from chat.safety.blocklist import regex_rule_problem


class Room(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    is_live = models.BooleanField(default=True, help_text="Live rooms are ticked by personas and shown first.")
    slow_mode_seconds = models.PositiveIntegerField(
        default=0, help_text="Minimum seconds between two messages of one viewer (0 = off)."
    )
    emote_only = models.BooleanField(default=False, help_text="Viewers may post emotes only (moderators too).")
    # The last seq handed out; incremented under a row lock so seqs are gap-free per room.
    last_seq = models.BigIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-is_live", "title"]

    def __str__(self) -> str:
        return self.title


class Conversation(models.Model):
    """A room's chat session: it ends after a period of inactivity."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="conversations")
    started_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField()
    message_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["room"], condition=models.Q(ended_at__isnull=True), name="chat_one_open_conversation_per_room"
            )
        ]

    def __str__(self) -> str:
        return f"{self.room.slug} #{self.pk} (seq {self.first_seq}–{self.last_seq})"


class VisibleMessageManager(models.Manager):
    """Messages a moderator has not deleted: what every reader outside the gateway works from
    (persona windows, reflection, scribe, memories, trends). Tombstones come from `all_objects`."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class Message(models.Model):
    class Origin(models.TextChoices):
        HUMAN = "human"
        BOT = "bot"
        SYSTEM = "system"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="messages")
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    seq = models.BigIntegerField()
    origin = models.CharField(max_length=8, choices=Origin.choices)
    # "user:<id>", "bot:<handle>" or "system:<name>": who the client_id belongs to.
    author_key = models.CharField(max_length=100)
    author_name = models.CharField(max_length=100)
    author_color = models.CharField(max_length=7, validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$")])
    author_badges = models.JSONField(default=list, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    text = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    mentions = models.JSONField(default=list, blank=True)
    flags = models.JSONField(default=list, blank=True)
    reply_to = models.UUIDField(null=True, blank=True)
    client_id = models.CharField(max_length=64, null=True, blank=True)
    correlation_id = models.CharField(max_length=40, blank=True)
    # Set by a moderator's delete or clear: the row stays (its seq keeps history gap-free) as a
    # tombstone that history, the API and resume return without text or author.
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    # all_objects first: it is the default manager (admin, related managers, dumps) and sees tombstones.
    all_objects = models.Manager()
    objects = VisibleMessageManager()

    class Meta:
        base_manager_name = "all_objects"
        ordering = ["room", "seq"]
        # A persona's page and narrative read its lines by author: without it, a full scan per URL.
        indexes = [models.Index(fields=["author_key", "-created_at"], name="chat_message_author_recent")]
        constraints = [
            models.UniqueConstraint(fields=["room", "seq"], name="chat_message_seq_unique_per_room"),
            models.UniqueConstraint(
                fields=["author_key", "client_id"],
                condition=models.Q(client_id__isnull=False),
                name="chat_message_client_id_unique_per_author",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.room_id}#{self.seq} {self.author_name}: {self.text[:40]}"


class BlockedTerm(models.Model):
    class Match(models.TextChoices):
        WORD = "word", "Whole word (also catches l33t spellings)"
        SUBSTRING = "substring", "Anywhere in the text"
        REGEX = "regex", "Regular expression"

    class Action(models.TextChoices):
        DROP = "drop", "Drop the message"
        MASK = "mask", "Mask the term with ***"

    term = models.CharField(max_length=200)
    match = models.CharField(max_length=10, choices=Match.choices, default=Match.WORD)
    action = models.CharField(max_length=10, choices=Action.choices, default=Action.DROP)
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True, help_text="Why it is blocked, for other moderators.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["term"]
        constraints = [models.UniqueConstraint(fields=["term", "match"], name="chat_blocked_term_unique")]

    def __str__(self) -> str:
        return self.term

    def clean(self) -> None:
        if self.match == self.Match.REGEX and (problem := regex_rule_problem(self.term)):
            raise ValidationError({"term": problem})


class SafetyAction(models.Model):
    """Why the gate dropped or sanitised a message. Never stores the original text (it may hold PII)."""

    class Action(models.TextChoices):
        DROP = "drop"
        SANITISE = "sanitise"
        REFUSE = "refuse"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="safety_actions")
    message = models.ForeignKey(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    origin = models.CharField(max_length=8)
    author_key = models.CharField(max_length=100)
    action = models.CharField(max_length=10, choices=Action.choices)
    reasons = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    correlation_id = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.action} {', '.join(self.reasons)}"


class RoomModerator(models.Model):
    """The per-room moderator role, given in admin. Staff moderate every room without one."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="moderators")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="moderated_rooms")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["room", "user"], name="chat_room_moderator_unique")]

    def __str__(self) -> str:
        return f"{self.user} moderates {self.room.slug}"


class RoomSanction(models.Model):
    """A timeout (until a time) or a ban (until a time, or for good) of one viewer in one room."""

    class Kind(models.TextChoices):
        TIMEOUT = "timeout"
        BAN = "ban"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="sanctions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="room_sanctions")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: a ban for good.")
    lifted_at = models.DateTimeField(null=True, blank=True, help_text="Set by an unban.")
    reason = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["room", "user", "lifted_at"], name="chat_sanction_lookup")]

    def __str__(self) -> str:
        return f"{self.kind} {self.user} in {self.room.slug}"

    def is_active(self, *, now) -> bool:
        return self.lifted_at is None and (self.until is None or self.until > now)


class ModerationAction(models.Model):
    """The moderators' log: who did what, when and why. Written once, never edited."""

    class Action(models.TextChoices):
        DELETE = "delete"
        TIMEOUT = "timeout"
        BAN = "ban"
        UNBAN = "unban"
        CLEAR = "clear"
        MODE = "mode"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="moderation_actions")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    actor_name = models.CharField(max_length=150)
    action = models.CharField(max_length=8, choices=Action.choices)
    target = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_name = models.CharField(max_length=150, blank=True)
    seqs = models.JSONField(default=list, blank=True, help_text="Deleted seqs (delete) or [first, last] (clear).")
    seconds = models.PositiveIntegerField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    mode = models.JSONField(null=True, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.actor_name} {self.action} {self.target_name}".strip()


class MessageReport(models.Model):
    """A viewer's report of a message, queued for moderators in admin."""

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved", "Resolved (acted on)"
        DISMISSED = "dismissed"

    class Reason(models.TextChoices):
        SPAM = "spam"
        HARASSMENT = "harassment"
        HATE = "hate", "Hate or slurs"
        PERSONAL_DATA = "personal_data", "Personal data"
        OTHER = "other"

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="reports")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="reports")
    reporter = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField(max_length=16, choices=Reason.choices, default=Reason.OTHER)
    note = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    handled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["message", "reporter"], name="chat_report_once_per_reporter")]

    def __str__(self) -> str:
        return f"report of #{self.message.seq} ({self.reason})"
EMOTE_CODE_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_]{2,32}$", "2-32 letters, digits or underscores")
EMOTE_IMAGE_VALIDATOR = RegexValidator(r"^[A-Za-z0-9_-]{1,60}\.(svg|png)$", "a file name in static/emotes/")


class Emote(models.Model):
    """A chat emote: a word that renders as an image from the bundled set (static/emotes/).

    A room whose set is empty shows every default emote; a room listed on some emotes shows those.
    """

    code = models.CharField(max_length=32, unique=True, validators=[EMOTE_CODE_VALIDATOR], help_text="What chat types.")
    image = models.CharField(max_length=64, validators=[EMOTE_IMAGE_VALIDATOR], help_text="File in static/emotes/.")
    is_default = models.BooleanField(default=True, help_text="In every room that has no emote set of its own.")
    rooms = models.ManyToManyField(
        Room, blank=True, related_name="emotes", help_text="Rooms whose own set includes it (leave empty for none)."
    )

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.code

    def clean(self) -> None:
        if self.image and not (Path(settings.BASE_DIR) / "static" / "emotes" / self.image).is_file():
            raise ValidationError({"image": f"static/emotes/{self.image} does not exist"})
