"""A WebSocket handshake while PostgreSQL is unreachable: closed with 4503, never HTTP 500; then resumes.

Daphne reaches the shared PostgreSQL through a TCP forwarder that the test switches off, so the
outage is real for the app (connections refused, open ones cut) and nobody else's database stops.
"""
from __future__ import annotations

import asyncio
import json
import time
import urllib.parse

import pytest
import websockets
from channels.db import database_sync_to_async
from django.test import Client

from chatter_site.lib.wsoutage import OUTAGE_CLOSE_CODE
from tests.factories import RoomFactory, UserFactory
from tests.support.flaky_proxy import FlakyProxy
from tests.support.processes import start_daphne

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]


@pytest.fixture
def daphne_behind_a_database_switch(process_env, log_dir):
    url = urllib.parse.urlsplit(process_env["DATABASE_URL"])
    proxy = FlakyProxy(url.port or 5432)
    proxied = url._replace(netloc=f"{url.username or 'postgres'}@127.0.0.1:{proxy.port}").geturl()
    process, base_url = start_daphne({**process_env, "DATABASE_URL": proxied}, log_dir)
    try:
        yield proxy, base_url, process
    finally:
        process.stop()
        proxy.close()


def _session_cookie(user) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


async def _close_code(url: str, origin: str, cookie: str | None) -> int:
    headers = {"Cookie": cookie} if cookie else {}
    # websockets raises InvalidStatus on an HTTP 500 answer: getting a socket at all proves there was none.
    async with websockets.connect(url, origin=origin, additional_headers=headers, open_timeout=10) as socket:
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await asyncio.wait_for(socket.recv(), 10)
    return closed.value.rcvd.code


async def test_it_closes_the_handshake_with_4503_while_postgresql_is_down_and_resumes(daphne_behind_a_database_switch):
    proxy, base_url, daphne = daphne_behind_a_database_switch
    room = await database_sync_to_async(RoomFactory)()
    cookie = await database_sync_to_async(_session_cookie)(await database_sync_to_async(UserFactory)())
    url = base_url.replace("http://", "ws://") + f"/ws/rooms/{room.slug}/"

    proxy.down()
    # Anonymous (the room lookup fails) and signed in (the session load fails first).
    assert await _close_code(url, base_url, None) == OUTAGE_CLOSE_CODE
    assert await _close_code(url, base_url, cookie) == OUTAGE_CLOSE_CODE
    proxy.up()

    # A client backing off reconnects: the first attempts may meet connections the outage broke.
    deadline = time.monotonic() + 30
    while True:
        async with websockets.connect(url, origin=base_url, additional_headers={"Cookie": cookie}, open_timeout=10) as socket:
            try:
                hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
            except websockets.ConnectionClosed as closed:
                assert closed.rcvd.code == OUTAGE_CLOSE_CODE and time.monotonic() < deadline, daphne.log_tail()
                await asyncio.sleep(0.5)
                continue
        break
    assert hello["type"] == "hello" and hello["user"] is not None
    assert "Internal Server Error" not in daphne.log_path.read_text(), daphne.log_tail()
