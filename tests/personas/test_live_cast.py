"""The cast over real parts: ticks and mentions go through Celery to a real worker, the worker asks
the local OpenAI-compatible server, and the line comes back through the gateway."""
from __future__ import annotations

import random

import pytest

from chat.models import Message
from chat.services import draft_parse, human_draft, message_ingest
from personas.models import Persona
from personas.services import cast_tick
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.personas.factories import PersonaFactory, RosterEntryFactory
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_it_answers_a_viewer_who_mentions_a_persona_within_seconds(celery_worker, llm_server):
    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="pixelpal", chattiness=0.0))
    viewer = UserFactory(username="nina")
    message_ingest(draft=human_draft(user=viewer, room_slug=room.slug, text="@pixelpal what's your PB?", client_id="m1"), user=viewer)
    answer = wait_for(
        lambda: Message.objects.filter(room=room, author_name="pixelpal").first(), timeout=15, message="pixelpal's answer"
    )
    assert answer.text.startswith("@nina ")
    assert answer.origin == "bot"


def test_it_answers_a_viewer_who_replies_to_a_personas_line_as_it_answers_a_mention(celery_worker, llm_server):
    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="pixelpal", chattiness=0.0))
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="bystander", chattiness=0.0))
    line = message_ingest(draft=draft_parse(bot_draft(room=room, text="that split was clean", handle="pixelpal")))
    viewer = UserFactory(username="nina")
    reply = message_ingest(
        draft=human_draft(user=viewer, room_slug=room.slug, text="was it though", client_id="r1", reply_to=line.id), user=viewer
    )
    answer = wait_for(
        lambda: Message.objects.filter(room=room, author_name="pixelpal").exclude(pk=line.pk).first(),
        timeout=15,
        message="pixelpal's answer to the reply",
    )
    assert answer.text.startswith("@nina ")
    assert answer.reply_to == reply.id
    assert not Message.objects.filter(room=room, author_name="bystander").exists()


def test_a_tick_that_decides_to_post_gets_a_line_into_the_room(celery_worker, llm_server):
    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="hypeowl", chattiness=1.0, max_posts_per_minute=10))
    outcomes = cast_tick(room=room, rng=random.Random(1))
    assert [outcome.decision.post for outcome in outcomes] == [True]
    line = wait_for(lambda: Message.objects.filter(room=room, author_name="hypeowl").first(), timeout=15, message="a line")
    assert line.text


def test_a_persona_disabled_by_a_moderator_is_out_from_the_next_tick(celery_worker, llm_server):
    room = RoomFactory()
    persona = PersonaFactory(handle="mutebot", chattiness=1.0)
    RosterEntryFactory(room=room, persona=persona)
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="witness", chattiness=0.0))
    assert [outcome.handle for outcome in cast_tick(room=room, rng=random.Random(1))] == ["mutebot", "witness"]
    Persona.objects.filter(pk=persona.pk).update(enabled=False)
    assert [outcome.handle for outcome in cast_tick(room=room, rng=random.Random(2))] == ["witness"]


def test_a_stream_event_nobody_reacts_to_gets_one_lead_reaction(celery_worker, llm_server):
    from datetime import datetime, timezone

    from chat.events import context_publish

    room = RoomFactory()
    for handle, hype in (("calmcat", 0.2), ("hypehawk", 2.5)):
        RosterEntryFactory(room=room, persona=PersonaFactory(handle=handle, chattiness=0.0001, hype_sensitivity=hype))
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="mutedmole", chattiness=0.0))
    at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    context_publish(
        room_slug=room.slug,
        context={
            "room": room.slug, "seq": 1, "at": at, "window_seconds": 45, "transcript": "he lands the last hit on the dragon",
            "segments": [], "keywords": ["dragon"], "topics": [],
            "events": [{"kind": "clutch", "at": at, "confidence": 0.9, "evidence": "last hit on the dragon"}],
        },
    )

    first = cast_tick(room=room, rng=random.Random(4))
    again = cast_tick(room=room, rng=random.Random(5))

    leads = [outcome.handle for outcome in first if "event_lead" in outcome.decision.reasons]
    assert len(leads) == 1 and leads[0] != "mutedmole"  # a persona that never posts is never made to
    assert not any("event_lead" in outcome.decision.reasons for outcome in again)  # once per event
    line = wait_for(lambda: Message.objects.filter(room=room, origin="bot").first(), timeout=15, message="the lead line")
    assert line.author_name == leads[0]
    request = next(r for r in llm_server.chat_requests if "<<moment>>" in r.text_of("user"))
    assert '"kind": "clutch"' in request.text_of("user")


def test_a_persona_at_its_max_posts_per_minute_still_answers_a_human_up_to_its_mention_ceiling(celery_worker, llm_server):
    from personas import activity
    from personas.services import persona_mentions_answer

    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="busybee", chattiness=0.0, max_posts_per_minute=2))
    for n in range(2):  # its whole budget spent this minute
        activity.post_record(room_slug=room.slug, handle="busybee", line=f"line {n}")
    viewer = UserFactory(username="nina")
    asked = message_ingest(draft=human_draft(user=viewer, room_slug=room.slug, text="@busybee you there?", client_id="b1"), user=viewer)
    answer = wait_for(lambda: Message.objects.filter(room=room, author_name="busybee").first(), timeout=15, message="the answer")
    assert answer.text.startswith("@nina ")

    activity.post_record(room_slug=room.slug, handle="busybee", line="line 3")  # now at 2 + 1: its ceiling
    payload = {"origin": "human", "mentions": ["busybee"], "text": "@busybee again?", "seq": asked.seq + 9, "id": "x"}
    assert persona_mentions_answer(room_slug=room.slug, messages=[payload]) == 0


def test_a_stream_event_is_led_by_a_persona_that_spent_all_but_its_mention_reserve(celery_worker, llm_server):
    from datetime import datetime, timezone

    from chat.events import context_publish
    from personas import activity

    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="spentowl", chattiness=0.5, max_posts_per_minute=3))
    for n in range(2):  # its own initiative's budget (3 less a reserved 1) is spent; the last post was 40 s ago
        activity.post_record(room_slug=room.slug, handle="spentowl", line=f"line {n}", at=datetime.now().timestamp() - 40)
    at = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    context_publish(
        room_slug=room.slug,
        context={
            "room": room.slug, "seq": 1, "at": at, "window_seconds": 45, "transcript": "he lands the last hit on the dragon",
            "segments": [], "keywords": ["dragon"], "topics": [],
            "events": [{"kind": "clutch", "at": at, "confidence": 0.9, "evidence": "last hit on the dragon"}],
        },
    )
    [outcome] = cast_tick(room=room, rng=random.Random(4))
    assert outcome.decision.post and outcome.decision.reasons == ["mention_reserve", "event_lead"]
    wait_for(lambda: Message.objects.filter(room=room, author_name="spentowl").first(), timeout=15, message="the lead line")
