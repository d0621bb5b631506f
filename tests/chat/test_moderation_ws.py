"""Moderation on the room WebSocket (SPEC 11, 4.3) through Channels and the real Redis channel layer:
`moderation` frames, tombstones on resume, refused sends with `until`, a ban closing the sockets."""
from __future__ import annotations

import uuid

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from chat.hub import get_hub
from chat.models import RoomModerator
from chat.moderation import moderation_apply
from chat.routing import websocket_urlpatterns
from chat.services import draft_parse, message_ingest
from tests.factories import RoomFactory, UserFactory, bot_draft

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

APP = URLRouter(websocket_urlpatterns)


@pytest.fixture
async def hub_cleanup():
    yield
    await get_hub().close()


async def _connect(room, user=None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(APP, f"/ws/rooms/{room.slug}/")
    if user is not None:
        communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


async def _next(communicator: WebsocketCommunicator, kind: str, timeout: float = 10) -> dict:
    """The next frame of one type, skipping the others (live messages, trends)."""
    while True:
        frame = await communicator.receive_json_from(timeout=timeout)
        if frame["type"] == kind:
            return frame


async def _messages(communicator: WebsocketCommunicator, count: int) -> list[dict]:
    items: list[dict] = []
    while len(items) < count:
        items.extend((await _next(communicator, "messages"))["items"])
    return items


@database_sync_to_async
def _setup():
    room = RoomFactory()
    moderator = UserFactory()
    RoomModerator.objects.create(room=room, user=moderator)
    return room, moderator, UserFactory()


@database_sync_to_async
def _bot(room, text):
    return message_ingest(draft=draft_parse(bot_draft(room=room, text=text)))


@database_sync_to_async
def _act(room, moderator, body):
    return moderation_apply(room=room, actor=moderator, data=body)


async def test_a_delete_reaches_every_viewer_and_resume_returns_its_tombstone(hub_cleanup):
    room, moderator, _ = await _setup()
    first, second = await _connect(room), await _connect(room)
    messages = [await _bot(room, f"line {n}") for n in range(3)]
    for viewer in (first, second):
        assert [item["text"] for item in await _messages(viewer, 3)] == ["line 0", "line 1", "line 2"]

    await _act(room, moderator, {"action": "delete", "seq": messages[1].seq, "reason": "spoiler"})

    for viewer in (first, second):
        frame = await _next(viewer, "moderation")
        assert frame["action"] == "delete" and frame["seqs"] == [messages[1].seq]
        assert frame["by"] == moderator.username and frame["user"] == "testbot"
        assert "reason" not in frame  # the reason is for the log, not for the room
    await first.send_json_to({"type": "resume", "after_seq": 0})
    resumed = await _messages(first, 3)
    assert [item["seq"] for item in resumed] == [1, 2, 3]
    assert resumed[1] == {"seq": 2, "deleted": True}
    assert [resumed[0]["text"], resumed[2]["text"]] == ["line 0", "line 2"]

    await _act(room, moderator, {"action": "clear"})
    frame = await _next(second, "moderation")
    assert frame["action"] == "clear" and frame["upto"] == 3 and frame["seqs"] == []
    await second.send_json_to({"type": "resume", "after_seq": 0})
    assert await _messages(second, 3) == [{"seq": n, "deleted": True} for n in (1, 2, 3)]
    for viewer in (first, second):
        await viewer.disconnect()


async def test_a_timed_out_viewers_send_is_refused_with_until_and_the_socket_stays(hub_cleanup):
    room, moderator, viewer = await _setup()
    socket = await _connect(room, viewer)
    action = await _act(room, moderator, {"action": "timeout", "user": viewer.username, "seconds": 300})
    frame = await _next(socket, "moderation")
    assert frame["action"] == "timeout" and frame["user"] == viewer.username and frame["seconds"] == 300

    await socket.send_json_to({"type": "send", "text": "let me talk", "client_id": uuid.uuid4().hex})
    error = await _next(socket, "error")
    assert error["code"] == "timed_out"
    assert error["until"] == frame["until"] == action.until.isoformat().replace("+00:00", "Z")
    await socket.send_json_to({"type": "ping"})
    assert (await _next(socket, "pong")) == {"type": "pong"}
    # Meanwhile the room's moderator talks, wearing the moderator badge.
    moderator_socket = await _connect(room, moderator)
    await moderator_socket.send_json_to({"type": "send", "text": "be nice, chat", "client_id": uuid.uuid4().hex})
    (said,) = await _messages(socket, 1)
    assert said["text"] == "be nice, chat" and said["author"]["badges"] == ["moderator"]
    await moderator_socket.disconnect()
    await socket.disconnect()


async def test_a_ban_closes_the_banned_viewers_sockets_only_and_keeps_them_out(hub_cleanup):
    room, moderator, viewer = await _setup()
    banned_tabs = [await _connect(room, viewer), await _connect(room, viewer)]
    bystander = await _connect(room, await database_sync_to_async(UserFactory)())

    await _act(room, moderator, {"action": "ban", "user": viewer.username, "reason": "raid"})

    for tab in banned_tabs:
        assert (await _next(tab, "moderation"))["action"] == "ban"
        error = await _next(tab, "error")
        assert error["code"] == "banned" and error["until"] is None
        assert (await tab.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4403}
    assert (await _next(bystander, "moderation"))["user"] == viewer.username
    await bystander.send_json_to({"type": "ping"})
    assert (await _next(bystander, "pong")) == {"type": "pong"}

    # Coming back is answered with the same refusal and closed again.
    again = WebsocketCommunicator(APP, f"/ws/rooms/{room.slug}/")
    again.scope["user"] = viewer
    connected, _ = await again.connect()
    assert connected
    assert (await again.receive_json_from(timeout=5))["code"] == "banned"
    assert (await again.receive_output(timeout=5)) == {"type": "websocket.close", "code": 4403}
    await bystander.disconnect()
