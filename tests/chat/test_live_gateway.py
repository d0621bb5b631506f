"""End to end over real processes: Daphne, a Celery worker, Redis channel layer, PostgreSQL."""
from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
import websockets
from channels.db import database_sync_to_async
from django.test import Client

from chat.services import draft_parse, message_ingest
from chat.tasks import message_ingest_task
from tests.factories import RoomFactory, UserFactory, bot_draft

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]


def _ws_url(base: str, room) -> str:
    return base.replace("http://", "ws://") + f"/ws/rooms/{room.slug}/"


async def _open(base: str, room, *, cookie: str | None = None, origin: str | None = None):
    headers = {"Cookie": cookie} if cookie else {}
    socket = await websockets.connect(
        _ws_url(base, room), origin=origin or base, additional_headers=headers, max_size=2**24, open_timeout=10
    )
    hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
    assert hello["type"] == "hello"
    return socket, hello


async def _messages(socket, count: int, timeout: float = 15) -> list[dict]:
    items: list[dict] = []
    async with asyncio.timeout(timeout):
        while len(items) < count:
            frame = json.loads(await socket.recv())
            if frame["type"] == "messages":
                items.extend(frame["items"])
    return items


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def test_it_delivers_a_signed_in_post_to_every_viewer_through_daphne(live_daphne):
    room = await database_sync_to_async(RoomFactory)()
    user = await database_sync_to_async(UserFactory)()
    cookie = await database_sync_to_async(_session_cookie)(user)
    poster, hello = await _open(live_daphne, room, cookie=cookie)
    assert hello["user"]["name"] == user.username
    watchers = [(await _open(live_daphne, room))[0] for _ in range(3)]
    await poster.send(json.dumps({"type": "send", "text": "gg <i>wp</i>", "client_id": "live-1"}))
    for socket in [poster, *watchers]:
        (item,) = await _messages(socket, 1)
        assert item["text"] == "gg <i>wp</i>" and item["author"]["name"] == user.username
        await socket.close()


async def test_it_carries_messages_from_another_process_in_seq_order(live_daphne):
    room = await database_sync_to_async(RoomFactory)()
    viewers = [(await _open(live_daphne, room))[0] for _ in range(2)]
    for n in range(60):
        await database_sync_to_async(message_ingest)(draft=draft_parse(bot_draft(room=room, text=f"line {n}")))
    for socket in viewers:
        items = await _messages(socket, 60)
        assert [item["seq"] for item in items] == list(range(1, 61))
        await socket.close()


async def test_it_delivers_what_a_celery_worker_ingests(live_daphne, celery_worker):
    room = await database_sync_to_async(RoomFactory)()
    socket, _ = await _open(live_daphne, room)
    message_ingest_task.delay(bot_draft(room=room, text="from the worker", client_id="worker-1"))
    (item,) = await _messages(socket, 1, timeout=30)
    assert item["text"] == "from the worker" and item["origin"] == "bot"
    await socket.close()


async def test_it_rejects_a_socket_from_a_foreign_origin(live_daphne):
    room = await database_sync_to_async(RoomFactory)()
    with pytest.raises(websockets.exceptions.InvalidStatus) as rejected:
        await websockets.connect(_ws_url(live_daphne, room), origin="http://evil.example", open_timeout=10)
    assert rejected.value.response.status_code == 403


async def test_it_serves_the_messages_api_oldest_first(live_daphne):
    room = await database_sync_to_async(RoomFactory)()
    for n in range(5):
        await database_sync_to_async(message_ingest)(draft=draft_parse(bot_draft(room=room, text=f"m{n}")))

    def fetch(path: str):
        with urllib.request.urlopen(live_daphne + path, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")

    status, items = await asyncio.to_thread(fetch, f"/api/rooms/{room.slug}/messages?after=2&limit=2")
    assert status == 200
    assert [item["seq"] for item in items] == [3, 4]
    status, rooms = await asyncio.to_thread(fetch, "/api/rooms")
    assert {"slug": room.slug, "title": room.title, "is_live": True, "viewers": 0} in rooms
