"""The document socket `/ws/scribe/<id>/` over the Redis channel layer, in this process."""
from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from scribe import services
from scribe.routing import websocket_urlpatterns
from tests.factories import RoomFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

APP = URLRouter(websocket_urlpatterns)


@database_sync_to_async
def _document():
    room = RoomFactory()
    return services.document_start(room_slug=room.slug, title="Socket story", style="conversational")


async def _connect(document_id: int) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(APP, f"/ws/scribe/{document_id}/")
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    return communicator


async def test_it_refuses_an_unknown_document_before_accepting():
    communicator = WebsocketCommunicator(APP, "/ws/scribe/987654321/")
    connected, code = await communicator.connect(timeout=5)
    assert not connected and code == 4404


async def test_it_says_hello_with_the_current_document():
    document = await _document()
    communicator = await _connect(document.pk)
    hello = await communicator.receive_json_from(timeout=5)

    assert hello["type"] == "hello"
    assert hello["document"]["id"] == document.pk and hello["document"]["version"] == 1
    assert hello["document"]["html"].startswith("<h1>Socket story</h1>")
    await communicator.disconnect()


async def test_it_pushes_every_new_version():
    document = await _document()
    communicator = await _connect(document.pk)
    await communicator.receive_json_from(timeout=5)

    await database_sync_to_async(services.document_edit)(
        document_id=document.pk, content="# Socket story\n\nA <b>new</b> chapter.\n", base_version=1
    )
    frame = await communicator.receive_json_from(timeout=5)

    assert frame["type"] == "document" and frame["document"]["version"] == 2
    assert "A &lt;b&gt;new&lt;/b&gt; chapter." in frame["document"]["html"]
    await communicator.disconnect()


async def test_it_answers_pings_and_refuses_anything_else():
    document = await _document()
    communicator = await _connect(document.pk)
    await communicator.receive_json_from(timeout=5)

    await communicator.send_json_to({"type": "ping"})
    assert await communicator.receive_json_from(timeout=5) == {"type": "pong"}
    await communicator.send_to(text_data="{not json")
    refused = await communicator.receive_json_from(timeout=5)
    assert refused["type"] == "error" and refused["code"] == "invalid"
    await communicator.send_json_to({"type": "send", "text": "hi"})
    assert (await communicator.receive_json_from(timeout=5))["code"] == "invalid"
    await communicator.disconnect()
