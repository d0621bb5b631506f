"""A deleted message never reaches a persona prompt or a reflection job (SPEC 11): the prompt's chat
window comes from chat.firehose in Redis, reflection reads the witnessed range from the database, and
both lose the message when a moderator deletes it. Through the real openai client to the local server."""
from __future__ import annotations

import time
import uuid

import pytest
from django.contrib.auth import get_user_model

from chat.models import Message
from chat.moderation import moderation_apply
from chat.selectors import message_payload
from chat.services import human_draft, message_ingest
from memory.mem0_client import scope_for
from memory.models import ReflectionJob
from memory.services.reflection import reflection_flush, reflection_run
from personas.services import persona_generate
from personas.witness import witnessed_collect
from tests.factories import RoomFactory, UserFactory
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)

KEPT = "the blue knight build is the fastest route"
DOOMED = "my phone number is in my bio, call me tonight"


def _say(room, text: str) -> Message:
    viewer = UserFactory()
    draft = human_draft(user=viewer, room_slug=room.slug, text=text, client_id=uuid.uuid4().hex)
    return message_ingest(draft=draft, user=viewer)


@pytest.fixture
def moderated_room(llm_server):
    room = RoomFactory()
    persona = PersonaFactory(handle=f"quill{uuid.uuid4().hex[:4]}")
    RosterEntryFactory(room=room, persona=persona)
    kept, doomed = _say(room, KEPT), _say(room, DOOMED)
    staff = get_user_model().objects.create_user(f"mod_{uuid.uuid4().hex[:6]}", password="x", is_staff=True)
    return room, persona, kept, doomed, staff


def test_a_deleted_message_never_reaches_a_persona_prompt_even_as_the_line_it_answers(moderated_room, llm_server):
    room, persona, kept, doomed, staff = moderated_room
    reply_to = message_payload(doomed, room_slug=room.slug)  # queued as a mention before the delete
    moderation_apply(room=room, actor=staff, data={"action": "delete", "seq": doomed.seq})

    line = persona_generate(room=room, persona_id=persona.pk, decision_id=uuid.uuid4().hex, decided_at=time.time())
    answer = persona_generate(
        room=room, persona_id=persona.pk, decision_id=uuid.uuid4().hex, decided_at=time.time(), reply_to=reply_to
    )

    assert line is not None and answer is None  # the answer to a deleted line is never written
    (request,) = llm_server.chat_requests
    assert KEPT in request.text_of("user")
    assert DOOMED not in request.text_of("user") and DOOMED not in request.text_of("system")


def test_a_deleted_message_never_reaches_a_reflection_job(moderated_room, llm_server, chroma_server):
    room, persona, kept, doomed, staff = moderated_room
    witnessed_collect()  # noted for the persona before the delete
    moderation_apply(room=room, actor=staff, data={"action": "delete", "seq": doomed.seq})
    assert reflection_flush(force=True) == 1
    job = ReflectionJob.objects.get(scope=scope_for(room.slug, persona.handle))
    assert (job.first_seq, job.last_seq) == (kept.seq, doomed.seq)

    reflection_run(job_id=job.pk)

    requests = [request for request in llm_server.chat_requests if KEPT in request.text_of("user")]
    assert requests, "the reflection job never asked the model"
    assert all(DOOMED not in request.text_of("user") for request in llm_server.chat_requests)
