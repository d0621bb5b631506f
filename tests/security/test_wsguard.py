"""The WebSocket guard in-process: leases in Redis, stale leases, Redis down, the send bound."""
from __future__ import annotations

import functools
import time

import pytest
import redis as redis_lib
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator

from chatter_site.lib import wsguard
from chatter_site.lib.wsguard import CLOSE_SLOW_CONSUMER, CLOSE_TOO_MANY_CONNECTIONS, KEY_PREFIX, WebSocketGuard

pytestmark = pytest.mark.asyncio
ADDRESS = "198.51.100.23"


class Echo(AsyncWebsocketConsumer):
    channel_layer_alias = "no layer"

    async def connect(self) -> None:
        await self.accept()

    async def receive(self, text_data=None, bytes_data=None) -> None:
        await self.send(text_data=text_data)


@pytest.fixture
def guard_settings(settings):
    settings.CHAT_WS_MAX_PER_IP = 2
    settings.CHAT_WS_LIMIT_EXEMPT = []
    settings.TRUSTED_PROXIES = []
    client = redis_lib.Redis.from_url(settings.REDIS_URL)
    client.delete(KEY_PREFIX + ADDRESS)
    wsguard._leases = None  # a fresh client on this test's event loop
    yield settings
    client.delete(KEY_PREFIX + ADDRESS)
    wsguard._leases = None


def _communicator(app=None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(app or WebSocketGuard(Echo.as_asgi()), "/ws/echo/")
    communicator.scope["client"] = [ADDRESS, 40000]
    return communicator


async def _close_code(communicator: WebsocketCommunicator) -> int | None:
    output = await communicator.receive_output(timeout=5)
    return output.get("code") if output["type"] == "websocket.close" else None


async def test_it_refuses_a_socket_beyond_the_per_address_limit(guard_settings):
    first, second, third = _communicator(), _communicator(), _communicator()
    assert (await first.connect())[0] and (await second.connect())[0]
    connected, _ = await third.connect()
    assert connected  # accepted, then closed at once with a code a browser can read
    assert await _close_code(third) == CLOSE_TOO_MANY_CONNECTIONS
    await first.disconnect()
    fourth = _communicator()
    assert (await fourth.connect())[0]
    await fourth.send_to(text_data="still here")
    assert await fourth.receive_from() == "still here"
    await second.disconnect()
    await fourth.disconnect()


async def test_it_counts_an_ipv6_client_by_its_slash_64(guard_settings):
    client = redis_lib.Redis.from_url(guard_settings.REDIS_URL)
    client.delete(KEY_PREFIX + "2001:db8:7:1::/64")
    opened = []
    for host in ("2001:db8:7:1::a", "2001:db8:7:1::b", "2001:db8:7:1:ffff::c"):  # one subscriber's block
        communicator = WebsocketCommunicator(WebSocketGuard(Echo.as_asgi()), "/ws/echo/")
        communicator.scope["client"] = [host, 40000]
        assert (await communicator.connect())[0]
        opened.append(communicator)
    assert await _close_code(opened[-1]) == CLOSE_TOO_MANY_CONNECTIONS
    other = WebsocketCommunicator(WebSocketGuard(Echo.as_asgi()), "/ws/echo/")
    other.scope["client"] = ["2001:db8:7:2::a", 40000]  # the next /64 is someone else
    assert (await other.connect())[0]
    await other.send_to(text_data="hi")
    assert await other.receive_from() == "hi"
    for communicator in (*opened[:2], other):
        await communicator.disconnect()
    client.delete(KEY_PREFIX + "2001:db8:7:1::/64", KEY_PREFIX + "2001:db8:7:2::/64")


async def test_it_forgets_the_sockets_of_a_process_that_died(guard_settings):
    client = redis_lib.Redis.from_url(guard_settings.REDIS_URL)
    expired = time.time() - 1  # leases of a process that stopped renewing them
    client.zadd(KEY_PREFIX + ADDRESS, {"dead-host:1:a": expired, "dead-host:1:b": expired})
    communicator = _communicator()
    assert (await communicator.connect())[0]
    await communicator.send_to(text_data="admitted")
    assert await communicator.receive_from() == "admitted"
    assert client.zcard(KEY_PREFIX + ADDRESS) == 1
    await communicator.disconnect()


async def test_it_lets_sockets_in_when_redis_cannot_count(guard_settings):
    guard_settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    communicators = [_communicator() for _ in range(3)]
    for communicator in communicators:
        assert (await communicator.connect())[0]
        await communicator.send_to(text_data="ok")
        assert await communicator.receive_from() == "ok"
    for communicator in communicators:
        await communicator.disconnect()


async def test_it_closes_a_socket_whose_unsent_output_passes_the_bound(guard_settings):
    """The bound reads Daphne's transport buffer; here a stand-in protocol plays that transport."""
    guard_settings.CHAT_WS_SEND_BUFFER_BYTES = 1000

    class Transport:
        dataBuffer, offset, _tempDataLen = b"", 0, 0

    class Protocol:
        transport = Transport()

    sent: list[dict] = []

    async def handle_reply(protocol, send, message):
        sent.append(message)
        await send(message)
        if message["type"] == "websocket.send":
            protocol.transport._tempDataLen += len(message["text"])  # the client reads nothing

    app = WebSocketGuard(Echo.as_asgi())

    async def daphne_like(scope, receive, send):
        await app(scope, receive, functools.partial(handle_reply, Protocol(), send))

    communicator = _communicator(daphne_like)
    assert (await communicator.connect())[0]
    for _ in range(5):
        await communicator.send_to(text_data="x" * 400)
    echoes = 0
    while (await communicator.receive_output(timeout=5))["type"] == "websocket.send":
        echoes += 1
    await communicator.disconnect()
    assert echoes == 3
    texts = [message for message in sent if message["type"] == "websocket.send"]
    closes = [message for message in sent if message["type"] == "websocket.close"]
    assert len(texts) == 3  # 0, 400, 800 bytes unsent when each went out; the 4th found 1200
    assert closes == [{"type": "websocket.close", "code": CLOSE_SLOW_CONSUMER}]
