"""A human message's correlation id follows the work it causes (SPEC 9, issue 14): the persona job
that answers it, that job's LLM call, the persona's line, the scribe revision folding it in, and the
log lines the worker wrote meanwhile. A real Celery worker, the openai client against the test server."""
from __future__ import annotations

import pytest

from chat.models import Message
from chat.services import human_draft, message_ingest
from chatter_site.lib.redis import redis_client
from scribe import services as scribe_services
from scribe.events import queued_key
from scribe.models import ScribeRevision
from scribe.services import documents as scribe_documents
from tests.factories import RoomFactory, UserFactory
from tests.personas.factories import PersonaFactory, RosterEntryFactory
from tests.support.waiting import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_carries_a_human_messages_correlation_id_through_the_work_it_causes(celery_worker, llm_server, monkeypatch):
    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="trailowl", chattiness=0.0))
    # Started without its catch-up update (there is nothing to catch up on): an update already
    # running when the message lands would fold it in under its own id, and that is a race.
    with monkeypatch.context() as patch:
        patch.setattr(scribe_documents, "document_trigger", lambda **kwargs: 0)
        document = scribe_services.document_start(room_slug=room.slug, title="Trail", style="factual")
    assert not redis_client().exists(queued_key(document.pk))
    viewer = UserFactory(username="tracy")

    asked = message_ingest(
        draft=human_draft(user=viewer, room_slug=room.slug, text="@trailowl where does the trail start?", client_id="c1"), user=viewer
    )
    corr = asked.correlation_id
    assert corr.startswith("corr_")

    answer = wait_for(lambda: Message.objects.filter(room=room, author_name="trailowl").first(), timeout=30, message="the answer")
    assert answer.correlation_id == corr  # the persona's line
    calls = [r for r in llm_server.chat_requests if r.headers.get("x-correlation-id") == corr]
    assert calls, "no LLM call carried the message's correlation id"  # the persona job's LLM call
    revision = wait_for(
        lambda: ScribeRevision.objects.filter(document=document, first_seq__lte=asked.seq, last_seq__gte=asked.seq).first(),
        timeout=30,
        message="the scribe revision folding the message in",
    )
    assert revision.correlation_id == corr
    logged = wait_for(
        lambda: [line for line in celery_worker.log_path.read_text(errors="replace").splitlines() if f"corr={corr}" in line],
        timeout=10,
        message="worker log lines with the correlation id",
    )
    assert any("scribe" in line for line in logged), logged
