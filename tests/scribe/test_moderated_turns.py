"""A message a moderator deleted is left out of every later scribe update (SPEC 11)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from chat.moderation import moderation_apply
from scribe import services
from tests.factories import RoomFactory
from tests.scribe.helpers import markers_in, say

pytestmark = pytest.mark.django_db


def test_a_deleted_message_never_reaches_a_later_scribe_update(llm_server):
    room = RoomFactory()
    staff = get_user_model().objects.create_user("scribe_mod", password="x", is_staff=True)
    document = services.document_start(room_slug=room.slug, title="Moderated night", style="factual")
    kept = say(room, "the golem falls on the third try")
    doomed = say(room, "the streamer's home address is on the other stream")
    after = say(room, "chat celebrates the golem kill")

    moderation_apply(room=room, actor=staff, data={"action": "delete", "seq": doomed.seq})
    services.document_update_run(document_id=document.pk)

    document.refresh_from_db()
    (request,) = llm_server.chat_requests
    assert "the golem falls on the third try" in request.text_of("user")
    assert "chat celebrates the golem kill" in request.text_of("user")
    assert "home address" not in request.text_of("user")
    assert "home address" not in document.content
    assert markers_in(document.content) == [kept.seq, after.seq]
    assert document.cursor_seq == after.seq
