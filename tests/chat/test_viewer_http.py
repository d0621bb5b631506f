"""The viewer's chat over HTTP (SPEC 11): scrollback paging, user cards, emote sets, the pop-out
page, the overlay's options, the favicon, replies that point nowhere, and the chatter list's merge."""
from __future__ import annotations

import json
import time

import pytest
from django.contrib.auth import get_user_model

from chat import presence
from chat.models import Emote, Message
from chat.moderation import moderation_apply
from chat.selectors import room_emotes
from chat.services import draft_parse, human_draft, message_ingest
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.redis import redis_client
from tests.factories import RoomFactory, UserFactory, bot_draft
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_pages_back_through_history_oldest_first(client):
    room = RoomFactory()
    for i in range(12):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"line {i}")))
    page = client.get(f"/api/rooms/{room.slug}/messages?before=11&limit=4").json()
    assert [item["seq"] for item in page] == [7, 8, 9, 10]
    assert [item["text"] for item in page] == ["line 6", "line 7", "line 8", "line 9"]
    assert client.get(f"/api/rooms/{room.slug}/messages?before=2&limit=50").json()[0]["seq"] == 1
    assert client.get(f"/api/rooms/{room.slug}/messages?before=1").json() == []


@pytest.mark.parametrize("query", ["before=0", "before=x", "before=5&after=1", "before=5&limit=0"])
def test_it_refuses_bad_scrollback_parameters(client, query):
    room = RoomFactory()
    response = client.get(f"/api/rooms/{room.slug}/messages?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_it_shows_a_personas_card_and_a_persons_card(client):
    room = RoomFactory()
    RosterEntryFactory(room=room, persona=PersonaFactory(handle="pixelpal", bio="Counts frames.", badges=["bot", "vip"]))
    viewer = UserFactory(username="nina")
    message_ingest(draft=human_draft(user=viewer, room_slug=room.slug, text="hello", client_id="a"), user=viewer)

    persona = client.get(f"/api/rooms/{room.slug}/users/PixelPal").json()
    assert persona["kind"] == "persona" and persona["name"] == "pixelpal"
    assert persona["bio"] == "Counts frames." and persona["badges"] == ["bot", "vip"]
    assert persona["narrative_url"] == "/api/personas/pixelpal/narrative"
    assert persona["page_url"] == "/personas/pixelpal/"

    person = client.get(f"/api/rooms/{room.slug}/users/nina").json()
    assert person["kind"] == "person" and person["name"] == "nina" and person["role"] == "viewer"
    assert person["joined"].startswith(str(viewer.date_joined.year))
    assert "recent_messages" not in person  # only moderators see what someone wrote

    client.force_login(UserFactory(username="plainviewer"))
    assert "recent_messages" not in client.get(f"/api/rooms/{room.slug}/users/nina").json()
    staffer = UserFactory(username="staffer", is_staff=True)
    moderation_apply(room=room, actor=staffer, data={"action": "timeout", "user": "nina", "seconds": 60, "reason": "spam"})
    client.force_login(staffer)
    seen_by_moderator = client.get(f"/api/rooms/{room.slug}/users/nina").json()
    assert seen_by_moderator["message_count"] == 1
    assert [m["text"] for m in seen_by_moderator["recent_messages"]] == ["hello"]
    [action] = seen_by_moderator["moderation_actions"]
    assert (action["action"], action["by"], action["reason"]) == ("timeout", "staffer", "spam") and action["until"]


@pytest.mark.parametrize("name", ["nobody_here", "x" * 200, "nul%00"])
def test_it_answers_404_for_an_unknown_name(client, name):
    room = RoomFactory()
    response = client.get(f"/api/rooms/{room.slug}/users/{name}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_it_gives_a_room_its_own_emote_set_or_the_defaults():
    room, other = RoomFactory(), RoomFactory()
    Emote.objects.all().delete()
    assert set(room_emotes(room=room)) >= {"Kappa", "Pog"}  # an emptied table still has the bundled set
    kappa = Emote.objects.create(code="Kappa", image="Kappa.svg")
    hype = Emote.objects.create(code="HYPERS", image="HYPERS.svg", is_default=False)
    assert room_emotes(room=room) == {"Kappa": "/static/emotes/Kappa.svg"}
    hype.rooms.add(room)
    assert room_emotes(room=room) == {"HYPERS": "/static/emotes/HYPERS.svg"}  # the room's own set
    assert room_emotes(room=other) == {"Kappa": "/static/emotes/Kappa.svg"}
    kappa.image = "missing.svg"
    with pytest.raises(Exception, match="does not exist"):
        kappa.full_clean()


def test_it_serves_the_pop_out_chat_without_the_rest_of_the_page(client):
    room = RoomFactory()
    client.force_login(UserFactory())
    html = client.get(f"/rooms/{room.slug}/chat/").content.decode()
    assert 'id="chat-input"' in html and 'id="chat-messages"' in html
    assert "site-header" not in html and "panel-context" not in html and "chat-popout" not in html
    room_html = client.get(f"/rooms/{room.slug}/").content.decode()
    assert f'href="/rooms/{room.slug}/chat/"' in room_html


def test_it_puts_a_favicon_on_every_page(client):
    room = RoomFactory()
    admin = get_user_model().objects.create_superuser("boss", "boss@example.com", "correct-horse-battery")
    paths = ["/", f"/rooms/{room.slug}/", f"/rooms/{room.slug}/chat/", f"/rooms/{room.slug}/overlay/", "/accounts/login/", "/admin/login/"]
    for path in paths:
        assert 'rel="icon" href="/static/chat/favicon.svg"' in client.get(path).content.decode(), path
    client.force_login(admin)
    assert 'rel="icon"' in client.get("/admin/chat/emote/").content.decode()


def test_it_serves_the_overlay_with_its_options_and_no_input(client):
    room = RoomFactory()
    message_ingest(draft=draft_parse(bot_draft(room=room, text="hi")))
    response = client.get(f"/rooms/{room.slug}/overlay/?font=44&fade=0&bots=0&lines=5")
    html = response.content.decode()
    assert response.status_code == 200
    assert "--overlay-font: 44px" in html and "overlay-no-fade" in html
    assert "<input" not in html and "<form" not in html
    boot = json.loads(html.split('id="chat-bootstrap" type="application/json">')[1].split("</script>")[0])
    assert boot["overlay"] == {"maxLines": 5, "hideBots": True, "fade": 0}
    assert boot["signedIn"] is False


@pytest.mark.parametrize("query, says", [("font=500", "font must be between 12 and 96"), ("lines=x", "lines must be an integer")])
def test_it_refuses_bad_overlay_options_with_the_reason(client, query, says):
    room = RoomFactory()
    response = client.get(f"/rooms/{room.slug}/overlay/?{query}")
    assert response.status_code == 400
    assert says in response.content.decode()
    assert client.get("/rooms/no-such-room/overlay/").status_code == 404


def test_it_refuses_a_reply_to_a_message_of_another_room_and_stores_nothing():
    room, other = RoomFactory(), RoomFactory()
    elsewhere = message_ingest(draft=draft_parse(bot_draft(room=other, text="elsewhere")))
    viewer = UserFactory()
    with pytest.raises(ChatterError) as refused:
        message_ingest(
            draft=human_draft(user=viewer, room_slug=room.slug, text="hm", client_id="x", reply_to=elsewhere.id), user=viewer
        )
    assert refused.value.code == "invalid"
    assert not Message.objects.filter(room=room).exists()


def test_it_merges_the_chatter_list_across_processes_and_drops_dead_ones():
    room = RoomFactory()
    redis_client().delete(presence.chatters_key(room.slug))
    presence.presence_entry_write(
        room_slug=room.slug, process_id="web-1", sockets=3, people={("nina", "viewer"): 1, ("maria", "moderator"): 1}
    )
    presence.presence_entry_write(room_slug=room.slug, process_id="web-2", sockets=2, people={("nina", "viewer"): 2})
    stale = {"at": time.time() - 60, "sockets": 50, "people": [["ghost", "viewer"]]}
    redis_client().hset(presence.chatters_key(room.slug), "web-dead", json.dumps(stale))
    cast = [{"name": "pixelpal", "color": "#ff7f50", "badges": ["bot"]}]

    frame = presence.chatters_read(room_slug=room.slug, cast=cast)

    assert frame["type"] == "chatters" and frame["viewer_count"] == 5
    assert frame["viewers"] == ["nina"] and frame["moderators"] == ["maria"]
    assert frame["cast"] == cast
    assert frame["counts"] == {"moderators": 1, "viewers": 1, "cast": 1}


def test_it_refuses_a_people_batch_reply_to_nowhere_without_spending_the_rate_limit():
    from chat.ingest import messages_ingest_human_batch

    room = RoomFactory()
    parent = message_ingest(draft=draft_parse(bot_draft(room=room, text="parent")))
    viewer = UserFactory()
    drafts = [
        human_draft(user=viewer, room_slug=room.slug, text="to nowhere", client_id="b1", reply_to="00000000-0000-4000-8000-000000000000"),
        human_draft(user=viewer, room_slug=room.slug, text="to the parent", client_id="b2", reply_to=parent.id),
    ]
    refused, stored = messages_ingest_human_batch(room_slug=room.slug, drafts=drafts, user_ids=[viewer.pk, viewer.pk])
    assert isinstance(refused, ChatterError) and refused.code == "invalid"
    assert stored["reply_to"] == str(parent.id)
    assert list(Message.objects.filter(room=room).values_list("text", flat=True).order_by("seq")) == ["parent", "to the parent"]
