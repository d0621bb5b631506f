"""HTTP endpoints of SPEC 4.4 for rooms, messages, trends, health and metrics."""
from __future__ import annotations

import pytest

from chat.services import draft_parse, message_ingest, trends_snapshot_publish
from tests.factories import RoomFactory, bot_draft

pytestmark = pytest.mark.django_db(transaction=True)


def test_it_answers_404_json_for_an_unknown_room(client):
    response = client.get("/api/rooms/nope/messages")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("query", ["after=abc", "limit=0", "limit=100000", "after=-1"])
def test_it_refuses_bad_paging_parameters(client, query):
    room = RoomFactory()
    response = client.get(f"/api/rooms/{room.slug}/messages?{query}")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_it_serves_trends_after_a_snapshot(client):
    room = RoomFactory()
    assert client.get(f"/api/rooms/{room.slug}/trends").status_code == 204
    for n, handle in enumerate(["a", "b", "c", "d"]):
        message_ingest(draft=draft_parse(bot_draft(room=room, handle=handle, text=f"boss fight PogChamp {n}")))
    trends_snapshot_publish(room=room)
    trends = client.get(f"/api/rooms/{room.slug}/trends").json()
    assert trends["room"] == room.slug
    assert trends["active_authors"] == 4
    assert trends["bot_share"] == 1.0
    assert "PogChamp" in trends["emote_waves"]
    assert {"term": "boss", "count": 4} in trends["top_terms"]


def test_it_reports_health(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "redis": "ok"}


def test_it_serves_metrics_to_loopback(client):
    response = client.get("/metrics", REMOTE_ADDR="127.0.0.1")
    assert response.status_code == 200
    assert b"chatter_messages_ingested_total" in response.content


def test_it_refuses_metrics_to_a_remote_address_without_the_token(client, settings):
    settings.METRICS_TOKEN = "s3cret"
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403
    ok = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_AUTHORIZATION="Bearer s3cret")
    assert ok.status_code == 200


def test_it_shows_the_room_page_with_recent_history(client):
    room = RoomFactory()
    message_ingest(draft=draft_parse(bot_draft(room=room, text="<b>not bold</b>")))
    page = client.get(f"/rooms/{room.slug}/")
    assert page.status_code == 200
    assert b"<b>not bold</b>" not in page.content


def test_it_signs_up_and_refuses_to_redirect_off_site(client):
    response = client.post(
        "/accounts/signup/?next=https://evil.example/",
        {"username": "newviewer", "password1": "correct-horse-battery", "password2": "correct-horse-battery"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/"
