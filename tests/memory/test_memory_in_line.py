"""Memory reaches the line: what a persona remembers (Mem0 over a real Chroma server) and its cached
narrative both reach the request that generates its next line, quoted as data in the user message."""
from __future__ import annotations

import json
import time
import uuid

import pytest

from chat.services import human_draft, message_ingest
from memory.models import MemoryItem
from memory.services.narratives import narrative_regenerate
from memory.services.recall import persona_narrative_cached
from memory.services.store import memory_write
from personas.services import persona_generate
from tests.factories import RoomFactory, UserFactory
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)

RIVALRY = "rival of nina because she stole the speedrun record"
RUNNING_JOKE = "when someone says 'reset' → 'reset gang rise up'"


def test_memory_reaches_the_line(chroma_server, llm_server):
    room = RoomFactory()
    persona = PersonaFactory(handle=f"kappa{uuid.uuid4().hex[:6]}", loved_topics=["speedrun"])
    RosterEntryFactory(room=room, persona=persona)

    rivalry = memory_write(
        room_slug=room.slug, handle=persona.handle, kind=MemoryItem.Kind.RELATIONSHIP, text=RIVALRY,
        other_user="nina", subject="nina", confidence=MemoryItem.Confidence.HIGH, dedupe_key=f"rival-{uuid.uuid4().hex}",
    )
    joke = memory_write(
        room_slug=room.slug, handle=persona.handle, kind=MemoryItem.Kind.CATCHPHRASE, text=RUNNING_JOKE,
        confidence=MemoryItem.Confidence.MED, dedupe_key=f"joke-{uuid.uuid4().hex}",
    )
    assert rivalry is not None and joke is not None

    # The narrative's own write path (LLM -> Narrative row -> Redis cache); two memories are enough here.
    narrative = narrative_regenerate(subject_type="persona", subject_key=persona.handle, min_sources=2)
    assert narrative is not None and narrative.text
    assert persona_narrative_cached(handle=persona.handle) == narrative.text  # a cache hit, as the fast path reads it

    viewer = UserFactory(username=f"nina{uuid.uuid4().hex[:4]}")
    message_ingest(
        draft=human_draft(
            user=viewer, room_slug=room.slug, text="nina just took the speedrun record again, reset?", client_id="mem-line-1"
        ),
        user=viewer,
    )
    asked_before = len(llm_server.chat_requests)

    persona_generate(room=room, persona_id=persona.pk, decision_id=f"d-{time.time_ns()}", decided_at=time.time())

    assert len(llm_server.chat_requests) > asked_before, "the persona never asked the model for a line"
    # Memories and narrative are distilled from chat, so they come as quoted data in the user
    # message, never in the system message (personas/prompting.py).
    request = llm_server.chat_requests[-1]
    user, system = request.text_of("user"), request.text_of("system")
    assert json.dumps(RIVALRY, ensure_ascii=False)[1:-1] in user
    assert json.dumps(RUNNING_JOKE, ensure_ascii=False)[1:-1] in user
    assert json.dumps(narrative.text, ensure_ascii=False)[1:-1] in user
    assert RIVALRY not in system and narrative.text not in system
