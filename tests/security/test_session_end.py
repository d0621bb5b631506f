"""An open room socket stops posting when its session ends: sign-out closes it at once (through
every process's hub), a password change is caught on the next send."""
from __future__ import annotations

import uuid
from importlib import import_module

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from django.test import Client

from chat.consumers import CLOSE_SIGNED_OUT
from chat.hub import get_hub
from chat.models import Message
from chat.routing import websocket_urlpatterns
from tests.factories import RoomFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

APP = URLRouter(websocket_urlpatterns)


@pytest.fixture
async def hub_cleanup():
    yield
    await get_hub().close()


def _signed_in() -> tuple[Client, object, object]:
    user = UserFactory()
    client = Client()
    client.force_login(user)
    session = import_module(django_settings.SESSION_ENGINE).SessionStore(session_key=client.session.session_key)
    return client, user, session


async def _connect(room, user, session) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(APP, f"/ws/rooms/{room.slug}/")
    communicator.scope["user"] = user
    communicator.scope["session"] = session
    connected, _ = await communicator.connect()
    assert connected
    assert (await communicator.receive_json_from(timeout=5))["type"] == "hello"
    return communicator


async def _until_closed(communicator: WebsocketCommunicator) -> tuple[list[dict], int | None]:
    frames = []
    while True:
        output = await communicator.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            return frames, output.get("code")
        if output.get("text"):
            import json

            frames.append(json.loads(output["text"]))


async def test_it_closes_a_sockets_session_when_its_user_signs_out(hub_cleanup):
    room = await database_sync_to_async(RoomFactory)()
    client, user, session = await database_sync_to_async(_signed_in)()
    other_client, _, other_session = await database_sync_to_async(_signed_in)()
    socket_ = await _connect(room, user, session)
    bystander = await _connect(room, await database_sync_to_async(UserFactory)(), other_session)

    await sync_to_async(client.post)("/accounts/logout/")

    frames, code = await _until_closed(socket_)
    assert code == CLOSE_SIGNED_OUT
    assert [frame["code"] for frame in frames if frame["type"] == "error"] == ["auth_required"]
    await bystander.send_json_to({"type": "ping"})  # someone else's socket is untouched
    assert (await bystander.receive_json_from(timeout=5))["type"] == "pong"
    await bystander.disconnect()


async def test_it_stops_a_socket_posting_after_a_password_change(hub_cleanup, settings):
    settings.CHAT_WS_SESSION_RECHECK_SECONDS = 0
    room = await database_sync_to_async(RoomFactory)()
    _, user, session = await database_sync_to_async(_signed_in)()
    socket_ = await _connect(room, user, session)

    def change_password() -> None:
        fresh = type(user).objects.get(pk=user.pk)
        fresh.set_password("a brand new password")
        fresh.save()

    await database_sync_to_async(change_password)()
    await socket_.send_json_to({"type": "send", "text": "still me?", "client_id": str(uuid.uuid4())})

    frames, code = await _until_closed(socket_)
    assert code == CLOSE_SIGNED_OUT
    assert [frame["code"] for frame in frames if frame["type"] == "error"] == ["auth_required"]
    assert not await database_sync_to_async(Message.objects.filter(room=room).exists)()
