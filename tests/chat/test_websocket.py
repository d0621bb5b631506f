"""The room WebSocket (SPEC 4.3) through Channels with the real Redis channel layer."""
from __future__ import annotations

import json
import uuid

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from chat.hub import get_hub
from chat.models import Message
from chat.routing import websocket_urlpatterns
from chat.services import draft_parse, message_ingest
from tests.factories import RoomFactory, UserFactory, bot_draft

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

APP = URLRouter(websocket_urlpatterns)


@pytest.fixture
async def hub_cleanup():
    yield
    await get_hub().close()


async def _connect(room, user=None) -> tuple[WebsocketCommunicator, dict]:
    communicator = WebsocketCommunicator(APP, f"/ws/rooms/{room.slug}/")
    if user is not None:
        communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    hello = await communicator.receive_json_from(timeout=5)
    assert hello["type"] == "hello"
    return communicator, hello


async def _collect(communicator: WebsocketCommunicator, count: int, timeout: float = 10) -> list[dict]:
    items: list[dict] = []
    while len(items) < count:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == "messages":
            items.extend(frame["items"])
    return items


async def _ingest_bot(room, text: str, client_id: str | None = None) -> Message:
    return await database_sync_to_async(message_ingest)(draft=draft_parse(bot_draft(room=room, text=text, client_id=client_id)))


async def test_it_greets_with_the_room_and_last_seq(hub_cleanup):
    room = await database_sync_to_async(RoomFactory)()
    await _ingest_bot(room, "before anyone came")
    communicator, hello = await _connect(room)
    assert hello == {"type": "hello", "room": room.slug, "last_seq": 1, "user": None}
    await communicator.disconnect()


async def test_it_refuses_an_unknown_room_before_accepting(hub_cleanup):
    communicator = WebsocketCommunicator(APP, "/ws/rooms/nowhere/")
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4404


async def test_it_refuses_an_anonymous_send_and_keeps_the_socket_open(hub_cleanup):
    room = await database_sync_to_async(RoomFactory)()
    communicator, _ = await _connect(room)
    await communicator.send_json_to({"type": "send", "text": "hi", "client_id": "anon-1"})
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == "auth_required"
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5)) == {"type": "pong"}
    assert await database_sync_to_async(Message.objects.count)() == 0
    await communicator.disconnect()


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("{not json", "invalid"),
        (json.dumps({"type": "send", "text": "x" * (2 * 1024 * 1024), "client_id": "big"}), "too_large"),
        (json.dumps({"type": "explode"}), "invalid"),
        (json.dumps({"type": "resume", "after_seq": -3}), "invalid"),
        (json.dumps({"type": "send", "text": "hi", "client_id": "<script>"}), "invalid"),
    ],
    ids=["invalid-json", "2mb-frame", "unknown-type", "negative-seq", "bad-client-id"],
)
async def test_it_answers_a_bad_frame_with_an_error_and_changes_nothing(hub_cleanup, raw, code):
    room = await database_sync_to_async(RoomFactory)()
    user = await database_sync_to_async(UserFactory)()
    communicator, _ = await _connect(room, user)
    await communicator.send_to(text_data=raw)
    error = await communicator.receive_json_from(timeout=5)
    assert error["type"] == "error" and error["code"] == code, error
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5)) == {"type": "pong"}
    assert await database_sync_to_async(Message.objects.count)() == 0
    await communicator.disconnect()


async def test_it_delivers_a_post_to_both_viewers(hub_cleanup):
    room = await database_sync_to_async(RoomFactory)()
    alice = await database_sync_to_async(UserFactory)()
    sender, _ = await _connect(room, alice)
    watcher, _ = await _connect(room)
    await sender.send_json_to({"type": "send", "text": "<b>hello</b> chat", "client_id": str(uuid.uuid4())})
    for communicator in (sender, watcher):
        (item,) = await _collect(communicator, 1)
        assert item["text"] == "<b>hello</b> chat"
        assert item["author"]["name"] == alice.username
        assert item["seq"] == 1 and item["origin"] == "human"
    await sender.disconnect()
    await watcher.disconnect()


async def test_it_sends_a_repeated_client_id_once(hub_cleanup):
    room = await database_sync_to_async(RoomFactory)()
    user = await database_sync_to_async(UserFactory)()
    communicator, _ = await _connect(room, user)
    for _ in range(3):
        await communicator.send_json_to({"type": "send", "text": "only once", "client_id": "dup-1"})
    (item,) = await _collect(communicator, 1)
    assert item["client_id"] == "dup-1"
    await communicator.send_json_to({"type": "ping"})
    assert (await communicator.receive_json_from(timeout=5)) == {"type": "pong"}  # nothing else came
    assert await database_sync_to_async(Message.objects.count)() == 1
    await communicator.disconnect()


async def test_it_answers_unavailable_and_keeps_the_socket_when_redis_or_postgresql_is_down(hub_cleanup, monkeypatch):
    import redis.exceptions
    from django.db import OperationalError

    import chat.ingest

    room = await database_sync_to_async(RoomFactory)()
    user = await database_sync_to_async(UserFactory)()
    communicator, _ = await _connect(room, user)
    # Redis fails at the batch's limit checks; PostgreSQL inside its transaction, after the limits.
    for name, outage in (
        ("sends_admit", redis.exceptions.ConnectionError("Connection refused")),
        ("_insert_in_one_statement", OperationalError("server closed the connection")),
    ):
        def down(*args, _outage=outage, **kwargs):
            raise _outage

        with monkeypatch.context() as patch:
            patch.setattr(chat.ingest, name, down)
            await communicator.send_json_to({"type": "send", "text": "during the outage", "client_id": "out-1"})
            error = await communicator.receive_json_from(timeout=5)
        assert error == {"type": "error", "code": "unavailable", "detail": error["detail"], "client_id": "out-1"}
        assert await database_sync_to_async(Message.objects.count)() == 0
    await communicator.send_json_to({"type": "send", "text": "during the outage", "client_id": "out-1"})  # the resend
    (item,) = await _collect(communicator, 1)
    assert item["client_id"] == "out-1" and item["seq"] == 1
    assert await database_sync_to_async(Message.objects.count)() == 1
    await communicator.disconnect()


async def test_it_answers_rate_limited_when_a_viewer_floods(hub_cleanup, settings):
    settings.CHAT_RATE_LIMIT_COUNT = 2
    room = await database_sync_to_async(RoomFactory)()
    user = await database_sync_to_async(UserFactory)()
    communicator, _ = await _connect(room, user)
    for n in range(3):
        await communicator.send_json_to({"type": "send", "text": f"flood {n}", "client_id": f"f{n}"})
    errors, delivered = [], []
    while len(errors) + len(delivered) < 3:
        frame = await communicator.receive_json_from(timeout=5)
        if frame["type"] == "error":
            errors.append(frame["code"])
        elif frame["type"] == "messages":
            delivered.extend(item["text"] for item in frame["items"])
    assert errors == ["rate_limited"]
    assert sorted(delivered) == ["flood 0", "flood 1"]
    assert await database_sync_to_async(Message.objects.count)() == 2
    await communicator.disconnect()


async def test_it_resends_everything_missed_once_and_in_order_on_resume(hub_cleanup):
    room = await database_sync_to_async(RoomFactory)()
    viewer, _ = await _connect(room)
    for n in range(5):
        await _ingest_bot(room, f"seen {n}")
    seen = await _collect(viewer, 5)
    assert [item["seq"] for item in seen] == [1, 2, 3, 4, 5]
    await viewer.disconnect()

    for n in range(12):
        await _ingest_bot(room, f"missed {n}")
    returning, hello = await _connect(room)
    assert hello["last_seq"] == 17
    await returning.send_json_to({"type": "resume", "after_seq": 5})
    # Frames are handled in order: the pong means the resume has been answered. (A live message
    # published before the socket reads its resume frame goes out at once, above the hello's
    # last_seq; clients put messages in seq order and drop what they have.)
    await returning.send_json_to({"type": "ping"})
    items: list[dict] = []
    while (frame := await returning.receive_json_from(timeout=10))["type"] != "pong":
        items.extend(frame["items"] if frame["type"] == "messages" else [])
    for n in range(3):
        await _ingest_bot(room, f"live {n}")
    items += await _collect(returning, 15 - len(items))
    seqs = [item["seq"] for item in items]
    assert seqs == list(range(6, 21))
    assert [item["text"] for item in items[:12]] == [f"missed {n}" for n in range(12)]
    await returning.disconnect()


async def test_it_pushes_trends_to_viewers(hub_cleanup):
    from chat.services import trends_snapshot_publish

    room = await database_sync_to_async(RoomFactory)()
    viewer, _ = await _connect(room)
    await _ingest_bot(room, "hype PogChamp")
    await _collect(viewer, 1)
    await database_sync_to_async(trends_snapshot_publish)(room=room)
    frame = await viewer.receive_json_from(timeout=5)
    assert frame["type"] == "trends"
    assert frame["trends"]["room"] == room.slug and frame["trends"]["active_authors"] == 1
    await viewer.disconnect()


async def test_it_delivers_every_message_of_a_burst_once_and_in_order(hub_cleanup):
    import asyncio

    room = await database_sync_to_async(RoomFactory)()
    viewer, _ = await _connect(room)

    async def producer(worker: int) -> None:
        for n in range(25):
            await _ingest_bot(room, f"w{worker} {n}")

    await asyncio.gather(*(producer(w) for w in range(4)))
    items = await _collect(viewer, 100)
    assert [item["seq"] for item in items] == list(range(1, 101))
    await viewer.disconnect()


async def test_it_fills_a_message_the_channel_layer_lost_from_the_database(hub_cleanup, monkeypatch):
    import chat.services

    room = await database_sync_to_async(RoomFactory)()
    viewer, _ = await _connect(room)
    real_publish = chat.services.messages_publish
    monkeypatch.setattr(chat.services, "messages_publish", lambda **kwargs: None)  # the layer "drops" it
    await _ingest_bot(room, "lost in transit")
    monkeypatch.setattr(chat.services, "messages_publish", real_publish)
    await _ingest_bot(room, "arrives normally")
    items = await _collect(viewer, 2)
    assert [(item["seq"], item["text"]) for item in items] == [(1, "lost in transit"), (2, "arrives normally")]
    await viewer.disconnect()
