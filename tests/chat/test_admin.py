"""Moderator screens: staff can live in them; viewers and anonymous users cannot get in."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from chat.models import BlockedTerm
from chat.services import draft_parse, message_ingest
from tests.factories import RoomFactory, UserFactory, bot_draft

pytestmark = pytest.mark.django_db(transaction=True)

PAGES = [
    "/admin/chat/room/",
    "/admin/chat/message/",
    "/admin/chat/message/?q=hello&origin__exact=bot",
    "/admin/chat/conversation/",
    "/admin/chat/blockedterm/",
    "/admin/chat/safetyaction/",
]


@pytest.fixture
def moderator():
    return get_user_model().objects.create_superuser("mod", "mod@example.com", "correct-horse-battery")


@pytest.mark.parametrize("path", PAGES)
def test_it_shows_moderators_every_chat_screen(client, moderator, path):
    room = RoomFactory()
    message_ingest(draft=draft_parse(bot_draft(room=room, text="hello mail me a@b.co")))
    client.force_login(moderator)
    response = client.get(path)
    assert response.status_code == 200


@pytest.mark.parametrize("path", PAGES[:2])
def test_it_keeps_plain_viewers_out_of_admin(client, path):
    client.force_login(UserFactory())
    response = client.get(path)
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_it_applies_a_blocked_term_added_in_admin_at_once(client, moderator):
    from chatter_site.lib.errors import ChatterError

    room = RoomFactory()
    client.force_login(moderator)
    response = client.post(
        "/admin/chat/blockedterm/add/", {"term": "zorblax", "match": "word", "action": "drop", "enabled": "on", "note": "spam"}
    )
    assert response.status_code == 302
    assert BlockedTerm.objects.filter(term="zorblax").exists()
    with pytest.raises(ChatterError):
        message_ingest(draft=draft_parse(bot_draft(room=room, text="buy zorblax now")))
