"""Personas (anchors + knobs), their place on room rosters, room-level cast knobs, and drift."""
from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from chat.models import Room

UNIT = [MinValueValidator(0.0), MaxValueValidator(1.0)]


class Persona(models.Model):
    """An autonomous chatter. Anchors say who it is; knobs say how it behaves."""

    class DriftReview(models.TextChoices):
        AUTO_SMALL = "auto_small", "Apply small drift automatically, queue larger changes for review"
        REVIEW_ALL = "review_all", "Queue every drift change for review"
        FROZEN = "frozen", "No drift"

    # --- anchors ---
    handle = models.SlugField(max_length=32, unique=True, help_text="Chat name, also how viewers @mention it.")
    color = models.CharField(max_length=7, default="#9146ff", validators=[RegexValidator(r"^#[0-9a-fA-F]{6}$")])
    badges = models.JSONField(default=list, blank=True, help_text='e.g. ["bot", "vip"]')
    bio = models.TextField(blank=True, help_text="Who it is, in a few sentences (the model reads this).")
    style = models.TextField(blank=True, help_text="Voice and style notes: length, tone, punctuation, slang.")
    catchphrases = models.JSONField(default=list, blank=True)
    emotes = models.JSONField(default=list, blank=True, help_text="Preferred emotes, most used first.")
    loved_topics = models.JSONField(default=list, blank=True)
    hated_topics = models.JSONField(default=list, blank=True)
    # --- knobs ---
    chattiness = models.FloatField(default=0.08, validators=UNIT, help_text="Base chance to post on a tick (0–1).")
    hype_sensitivity = models.FloatField(default=1.0, validators=[MinValueValidator(0), MaxValueValidator(3)])
    mention_reaction = models.FloatField(default=0.9, validators=UNIT, help_text="Chance to answer a viewer who @mentions it.")
    bot_affinity = models.FloatField(default=0.3, validators=UNIT, help_text="Willingness to react to other bots.")
    max_posts_per_minute = models.PositiveIntegerField(default=4, validators=[MaxValueValidator(60)])
    temperature = models.FloatField(default=0.9, validators=[MinValueValidator(0), MaxValueValidator(2)])
    enabled = models.BooleanField(default=True, help_text="Disabled personas never post, in any room.")
    drift_review = models.CharField(max_length=12, choices=DriftReview.choices, default=DriftReview.AUTO_SMALL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["handle"]

    def __str__(self) -> str:
        return self.handle

    @property
    def author_key(self) -> str:
        return f"bot:{self.handle}"


class RosterEntry(models.Model):
    """A persona's place in a room, with per-room overrides (blank = use the persona's knob)."""

    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="roster")
    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="roster_entries")
    enabled = models.BooleanField(default=True, help_text="Off: the persona sits out this room.")
    joined_at = models.DateTimeField(auto_now_add=True, help_text="It only remembers what it saw from here on.")
    chattiness = models.FloatField(null=True, blank=True, validators=UNIT)
    max_posts_per_minute = models.PositiveIntegerField(null=True, blank=True, validators=[MaxValueValidator(60)])
    hype_sensitivity = models.FloatField(null=True, blank=True, validators=[MinValueValidator(0), MaxValueValidator(3)])
    bot_affinity = models.FloatField(null=True, blank=True, validators=UNIT)
    extra_style = models.TextField(blank=True, help_text="Extra voice notes for this room only.")

    class Meta:
        ordering = ["room", "persona__handle"]
        constraints = [models.UniqueConstraint(fields=["room", "persona"], name="personas_roster_unique")]
        verbose_name_plural = "roster entries"

    def __str__(self) -> str:
        return f"{self.persona.handle} in {self.room.slug}"


class RoomCast(models.Model):
    """Room-level knobs for the cast."""

    room = models.OneToOneField(Room, on_delete=models.CASCADE, related_name="cast")
    hype_multiplier = models.FloatField(default=1.0, validators=[MinValueValidator(0), MaxValueValidator(5)])
    bot_human_bias = models.FloatField(
        default=0.5, validators=UNIT, help_text="0: personas mostly react to bots; 1: mostly to humans."
    )
    max_inflight = models.PositiveIntegerField(default=3, help_text="Parallel line generations in this room.")
    max_bot_messages_per_minute = models.PositiveIntegerField(default=60, help_text="Cap on the whole cast's output.")

    def __str__(self) -> str:
        return f"cast settings of {self.room.slug}"


class DriftState(models.Model):
    """Bounded, slowly changing deltas to a persona's knobs and its mood (reflection writes these)."""

    persona = models.OneToOneField(Persona, on_delete=models.CASCADE, related_name="drift")
    mood = models.CharField(max_length=40, default="neutral")
    chattiness_delta = models.FloatField(default=0.0)
    hype_delta = models.FloatField(default=0.0)
    bot_affinity_delta = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    # Drift may move a knob at most this far from its anchor.
    BOUNDS = {"chattiness_delta": 0.05, "hype_delta": 0.5, "bot_affinity_delta": 0.2}

    def __str__(self) -> str:
        return f"drift of {self.persona.handle}: {self.mood}"

    def clamp(self) -> None:
        for name, bound in self.BOUNDS.items():
            setattr(self, name, max(-bound, min(bound, getattr(self, name))))


class DriftProposal(models.Model):
    """One drift the slow loop proposed: applied at once when small (per the persona's drift_review),
    otherwise waiting for a moderator. Values are the drifted state it would set, already clamped to
    DriftState.BOUNDS; `from_*` is the state it was proposed against; `raw` what the model answered."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        APPLIED = "applied", "Applied automatically (small change)"
        APPROVED = "approved", "Approved by a moderator"
        REJECTED = "rejected", "Rejected by a moderator"
        SUPERSEDED = "superseded", "Replaced by a newer proposal"

    persona = models.ForeignKey(Persona, on_delete=models.CASCADE, related_name="drift_proposals")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True)
    mood = models.CharField(max_length=40)
    chattiness_delta = models.FloatField()
    hype_delta = models.FloatField()
    bot_affinity_delta = models.FloatField()
    from_mood = models.CharField(max_length=40)
    from_chattiness_delta = models.FloatField()
    from_hype_delta = models.FloatField()
    from_bot_affinity_delta = models.FloatField()
    reason = models.TextField(blank=True)
    raw = models.JSONField(default=dict, blank=True, help_text="The model's answer before clamping.")
    clamped = models.BooleanField(default=False, help_text="The model asked for more than the bounds allow.")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    checkpointed_at = models.DateTimeField(null=True, blank=True, help_text="When the applied drift reached Mem0.")

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["persona", "status"], name="personas_drift_prop_status")]

    def __str__(self) -> str:
        return f"drift of {self.persona.handle} → {self.mood} ({self.status})"
