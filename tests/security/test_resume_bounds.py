"""A resume is bounded per socket: pages per resume, resumes per minute, a seq the database can hold."""
from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from chat.hub import get_hub
from chat.routing import websocket_urlpatterns
from tests.factories import RoomFactory
from tests.security.test_ws_limits import _history

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

APP = URLRouter(websocket_urlpatterns)


@pytest.fixture
async def viewer_of():
    opened: list[WebsocketCommunicator] = []

    async def connect(room) -> WebsocketCommunicator:
        communicator = WebsocketCommunicator(APP, f"/ws/rooms/{room.slug}/")
        connected, _ = await communicator.connect()
        assert connected
        assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
        opened.append(communicator)
        return communicator

    yield connect
    for communicator in opened:
        await communicator.disconnect()
    await asyncio.wait_for(get_hub().close(), 30)


async def _until_pong(communicator: WebsocketCommunicator) -> list[dict]:
    frames = []
    while (frame := await communicator.receive_json_from(timeout=10))["type"] != "pong":
        frames.append(frame)
    return frames


async def test_it_stops_a_resume_after_the_page_bound_and_the_next_resume_goes_on(viewer_of, settings):
    settings.CHAT_WS_RESUME_MAX_PAGES = 1
    room = await database_sync_to_async(RoomFactory)()
    await database_sync_to_async(_history)(room, count=250, text_bytes=10)
    viewer = await viewer_of(room)
    await viewer.send_json_to({"type": "resume", "after_seq": 0})
    await viewer.send_json_to({"type": "ping"})
    first = [item["seq"] for frame in await _until_pong(viewer) for item in frame["items"]]
    assert first == list(range(1, 201))
    await viewer.send_json_to({"type": "resume", "after_seq": 200})
    await viewer.send_json_to({"type": "ping"})
    second = [item["seq"] for frame in await _until_pong(viewer) for item in frame["items"]]
    assert second == list(range(201, 251))


async def test_it_answers_rate_limited_to_a_socket_that_resumes_too_often(viewer_of, settings):
    settings.CHAT_WS_RESUMES_PER_MINUTE = 3
    room = await database_sync_to_async(RoomFactory)()
    viewer = await viewer_of(room)
    for _ in range(4):
        await viewer.send_json_to({"type": "resume", "after_seq": 0})
    await viewer.send_json_to({"type": "ping"})
    frames = await _until_pong(viewer)
    assert [frame["code"] for frame in frames if frame["type"] == "error"] == ["rate_limited"]
    # The socket stays open and usable.
    await viewer.send_json_to({"type": "ping"})
    assert (await viewer.receive_json_from(timeout=5))["type"] == "pong"


async def test_it_refuses_a_resume_beyond_a_bigint_as_invalid():
    # Checked by the schema before the consumer reads history: PostgreSQL answered `unavailable`
    # (numeric out of range) and SQLite raised OverflowError for such a seq.
    from chat.consumers import client_frame_validate
    from chatter_site.lib.errors import ChatterError

    with pytest.raises(ChatterError) as refused:
        client_frame_validate({"type": "resume", "after_seq": 10**100})
    assert refused.value.code == "invalid" and "after_seq" in refused.value.message
    assert client_frame_validate({"type": "resume", "after_seq": 2**63 - 1}).after_seq == 2**63 - 1
