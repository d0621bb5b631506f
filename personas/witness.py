"""Witnessed scoping (SPEC 6.2): a persona remembers only what reached a room while it was there.

Noting happens off the chat path: the beat `personas-witnessed-collect` reads each rostered room's
messages since the room's cursor (kept by memory.services.reflection) and notes every message for each persona
on the room's enabled roster that had joined by the time it arrived. Memory stores by scope and never
knows about rosters, so this decision is made here. Publishing a message costs reflection nothing.
"""
from __future__ import annotations

import logging

from chat.models import Message, Room
from memory.selectors import reflection_last_job_seq, reflection_noted_seq
from memory.services import reflection_note_room
from personas.models import RosterEntry

log = logging.getLogger("chatter.personas.witness")

# A room seen for the first time (or after Redis lost its cursor) notes at most this many recent
# messages: enough to cover an outage, not a room's whole history.
BACKLOG_MAX = 2000


def witnessed_collect() -> int:
    """Note every rostered room's new messages for the personas that witnessed them. Returns rooms noted."""
    rooms = (
        Room.objects.filter(roster__enabled=True, roster__persona__enabled=True)
        .distinct()
        .values_list("pk", "slug", "last_seq")
    )
    noted = 0
    for room_id, slug, last_seq in rooms:
        try:
            noted += witnessed_collect_room(room_id=room_id, room_slug=slug, last_seq=last_seq)
        except Exception:
            # One room's failure (Redis hiccup) must not stop the others; its cursor did not move,
            # so the next beat notes the same messages.
            log.exception("witnessed collect failed room=%s", slug)
    return noted


def witnessed_collect_room(*, room_id: int, room_slug: str, last_seq: int) -> int:
    """Note the room's messages after its cursor up to `last_seq` (read from the committed room row,
    so every message up to it is committed too). Returns 1 if it noted, 0 if there was nothing new
    or another collector got there first."""
    cursor = reflection_noted_seq(room_slug)
    start = cursor if cursor is not None else max(reflection_last_job_seq(room_slug), last_seq - BACKLOG_MAX, 0)
    if last_seq <= start:
        if cursor is None:
            reflection_note_room(room_slug=room_slug, after_seq=None, up_to_seq=start, witnessed={})
        return 0
    arrived = list(
        Message.objects.filter(room_id=room_id, seq__gt=start, seq__lte=last_seq).values_list("seq", "created_at")
    )
    roster = RosterEntry.objects.filter(room_id=room_id, enabled=True, persona__enabled=True).values_list(
        "persona__handle", "joined_at"
    )
    witnessed: dict[str, list[int]] = {}
    for handle, joined_at in roster:
        witnessed[handle] = [seq for seq, created_at in arrived if created_at >= joined_at]
    if not reflection_note_room(room_slug=room_slug, after_seq=cursor, up_to_seq=last_seq, witnessed=witnessed):
        return 0
    return 1
