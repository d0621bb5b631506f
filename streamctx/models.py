"""A bounded history of the stream contexts published per room."""
from __future__ import annotations

from django.db import models

from chat.models import Room


class StreamContextRecord(models.Model):
    room = models.ForeignKey(Room, on_delete=models.CASCADE, related_name="stream_contexts")
    seq = models.BigIntegerField()
    at = models.DateTimeField()
    source_id = models.CharField(max_length=80)
    payload = models.JSONField()
    event_kinds = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["room", "-seq"], name="streamctx_room_seq")]

    def __str__(self) -> str:
        return f"{self.room.slug} context #{self.seq}"
