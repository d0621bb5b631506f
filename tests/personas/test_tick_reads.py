"""The tick's hand-written reads (personas.selectors.tick_room / cast_for_room) against PostgreSQL: what
the ORM would give, without its cost."""
from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from personas.models import DriftState, RoomCast
from personas.selectors import cast_for_room, room_cast_settings, tick_room
from tests.factories import RoomFactory
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = pytest.mark.django_db


def test_tick_room_reads_a_live_room_with_its_cast_knobs_in_one_query():
    room = RoomFactory()
    RoomCast.objects.create(room=room, hype_multiplier=2.5, bot_human_bias=0.9, max_inflight=7, max_bot_messages_per_minute=11)

    with CaptureQueriesContext(connection) as queries:
        ticked = tick_room(room_id=room.pk)
        cast = room_cast_settings(room=ticked)

    assert len(queries.captured_queries) == 1
    assert (ticked.pk, ticked.slug) == (room.pk, room.slug)
    assert (cast.hype_multiplier, cast.bot_human_bias, cast.max_inflight, cast.max_bot_messages_per_minute) == (2.5, 0.9, 7, 11)


def test_tick_room_gives_the_default_knobs_to_a_room_without_any_and_nothing_for_a_room_off_air():
    room = RoomFactory()
    assert room_cast_settings(room=tick_room(room_id=room.pk)).max_inflight == RoomCast().max_inflight
    room.is_live = False
    room.save()
    assert tick_room(room_id=room.pk) is None


def test_cast_for_room_applies_room_overrides_and_drift_and_leaves_out_whoever_is_benched():
    room = RoomFactory()
    tuned = PersonaFactory(handle="tuned", chattiness=0.2, max_posts_per_minute=4, loved_topics=["Speedrun"], emotes=["Pog"])
    DriftState.objects.create(persona=tuned, chattiness_delta=0.1, mood="hyped")
    RosterEntryFactory(room=room, persona=tuned, chattiness=0.5, max_posts_per_minute=9)
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="benched"), enabled=False)
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="off", enabled=False))

    (member,) = cast_for_room(room=room)

    assert member.handle == "tuned"
    assert member.chattiness == pytest.approx(0.6)  # the room's 0.5 wins over the persona's 0.2, then drift
    assert member.max_posts_per_minute == 9
    assert member.liked == frozenset({"speedrun", "Pog"})
