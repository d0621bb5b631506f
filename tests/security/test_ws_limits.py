"""Slow, oversized and numerous clients against a real Daphne (chatter_site.lib.wsguard, SPEC 10).

The Daphne here runs with small limits so the tests stay fast: 4 sockets per address (loopback not
exempt), 256 KiB of unsent output per socket, 1 MiB transport frames (passed on Daphne's command
line as runchatter does).
"""
from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket
import time
import urllib.request

import pytest
import websockets
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer

from chat.events import EVENT_CONTEXT, room_group
from chatter_site.lib.wsguard import CLOSE_TOO_MANY_CONNECTIONS, client_ip
from tests.factories import RoomFactory
from tests.support.processes import child_env, start_daphne

MAX_PER_IP = 4
SEND_BUFFER_BYTES = 256 * 1024
# Daphne's default; autobahn applies it to frames the server sends too, so it stays above those.
TRANSPORT_MAX_BYTES = 1024 * 1024
CHAT_FRAME_BYTES = 16 * 1024  # CHATTER_WS_MAX_FRAME_BYTES's default
RESUME_HELD_MAX = 50

live = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]


@pytest.fixture(scope="module")
def guarded_daphne(test_database_url, tmp_path_factory):
    from django.conf import settings

    env = child_env(
        CHATTER_SECRET_KEY=settings.SECRET_KEY,
        DATABASE_URL=test_database_url,
        REDIS_URL=os.environ["REDIS_URL"],
        CHATTER_VAR_DIR=str(tmp_path_factory.mktemp("guarded-var")),
        CHATTER_ALLOWED_HOSTS="localhost,127.0.0.1",
        CHATTER_WS_MAX_PER_IP=str(MAX_PER_IP),
        CHATTER_WS_LIMIT_EXEMPT="",
        CHATTER_WS_SEND_BUFFER_BYTES=str(SEND_BUFFER_BYTES),
        CHATTER_WS_TRANSPORT_MAX_BYTES=str(TRANSPORT_MAX_BYTES),
        CHATTER_WS_RESUME_HELD_MAX=str(RESUME_HELD_MAX),
        CHATTER_WS_RESUME_MAX_PAGES="100",
        # The slow reader below waits for the test's signal, not for the page's patience to run out.
        CHATTER_WS_RESUME_DRAIN_SECONDS="120",
    )
    process, base = start_daphne(
        env, tmp_path_factory.mktemp("guarded-logs"), args=("--websocket-max-message-size", str(TRANSPORT_MAX_BYTES))
    )
    yield process, base
    process.stop()


def _ws(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def _open(base: str, path: str, **kwargs):
    socket_ = await websockets.connect(_ws(base, path), origin=base, max_size=2**24, open_timeout=10, **kwargs)
    hello = json.loads(await asyncio.wait_for(socket_.recv(), 10))
    assert hello["type"] == "hello"
    return socket_


async def _next_of_type(socket_, kind: str, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        while True:
            frame = json.loads(await socket_.recv())
            if frame["type"] == kind:
                return frame


def _rss_bytes(pid: int) -> int:
    status = open(f"/proc/{pid}/status").read()
    return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024


def _metric(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    match = re.search(rf"^{name} ([0-9.e+]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


# --- frame size -------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_answers_an_oversized_frame_with_too_large_and_stays_open(guarded_daphne):
    _, base = guarded_daphne
    room = await database_sync_to_async(RoomFactory)()
    viewer = await _open(base, f"/ws/rooms/{room.slug}/")
    await viewer.send(json.dumps({"type": "send", "text": "x" * (CHAT_FRAME_BYTES + 100), "client_id": "big"}))
    error = await _next_of_type(viewer, "error")
    assert error["code"] == "too_large"
    await viewer.send(json.dumps({"type": "ping"}))
    assert (await _next_of_type(viewer, "pong"))["type"] == "pong"
    await viewer.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_closes_the_socket_on_a_frame_over_the_transport_limit(guarded_daphne):
    _, base = guarded_daphne
    room = await database_sync_to_async(RoomFactory)()
    viewer = await _open(base, f"/ws/rooms/{room.slug}/")
    await viewer.send("x" * (TRANSPORT_MAX_BYTES + 1024))
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await _next_of_type(viewer, "never")
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big


# --- origin -------------------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_refuses_a_foreign_origin_on_every_websocket_route(guarded_daphne, documents_dir):
    from scribe import services as scribe_services

    _, base = guarded_daphne
    room = await database_sync_to_async(RoomFactory)()
    document = await database_sync_to_async(scribe_services.document_start)(room_slug=room.slug, title="Origins", style="factual")
    for path in (f"/ws/rooms/{room.slug}/", f"/ws/scribe/{document.pk}/"):
        for origin in ("http://evil.example", "http://127.0.0.1.evil.example", "null"):
            with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
                await websockets.connect(_ws(base, path), origin=origin, open_timeout=10)
            assert refused.value.response.status_code == 403, (path, origin)
        # The same route from the site's own origin is served: the refusal was about the origin.
        own = await _open(base, path)
        await own.close()


# --- sockets per address ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_limits_the_sockets_one_address_may_hold(guarded_daphne):
    _, base = guarded_daphne
    room = await database_sync_to_async(RoomFactory)()
    path = f"/ws/rooms/{room.slug}/"
    held = [await _open(base, path) for _ in range(MAX_PER_IP)]
    extra = await websockets.connect(_ws(base, path), origin=base, open_timeout=10)
    with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
        await asyncio.wait_for(extra.recv(), 10)
    assert closed.value.rcvd.code == CLOSE_TOO_MANY_CONNECTIONS
    assert _metric(base, 'chatter_ws_refused_total{reason="per_ip"}') >= 1
    # A socket that closes gives its place back at once.
    await held.pop().close()
    deadline = time.monotonic() + 10
    while True:
        candidate = await websockets.connect(_ws(base, path), origin=base, max_size=2**24, open_timeout=10)
        try:
            frame = json.loads(await asyncio.wait_for(candidate.recv(), 10))
            assert frame["type"] == "hello"
            held.append(candidate)
            break
        except websockets.exceptions.ConnectionClosed:
            assert time.monotonic() < deadline, "the closed socket's place was never given back"
            await asyncio.sleep(0.1)
    for socket_ in held:
        await socket_.close()


def test_it_counts_clients_behind_a_trusted_proxy_by_their_forwarded_address(settings):
    import ipaddress

    settings.TRUSTED_PROXIES = [ipaddress.ip_network("10.0.0.0/8")]
    scope = {"client": ["10.1.2.3", 5555], "headers": [(b"x-forwarded-for", b"198.51.100.7, 203.0.113.5, 10.9.9.9")]}
    assert client_ip(scope) == "203.0.113.5"  # the left-most hop is whatever the client claimed
    assert client_ip({"client": ["198.51.100.1", 1], "headers": scope["headers"]}) == "198.51.100.1"  # untrusted peer
    settings.TRUSTED_PROXIES = []
    assert client_ip(scope) == "10.1.2.3"


# --- a client that stops reading --------------------------------------------------------------------
def _stalled_client(base: str, path: str) -> socket.socket:
    """A WebSocket client that completes the handshake, reads the greeting, and never reads again."""
    host, port = base.removeprefix("http://").split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's queue fills fast
    raw.settimeout(10)
    raw.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    raw.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: {base}\r\n\r\n"
        ).encode()
    )
    received = b""
    while b'"hello"' not in received:
        chunk = raw.recv(4096)
        assert chunk, "closed during the handshake"
        received += chunk
    assert received.startswith(b"HTTP/1.1 101")
    return raw


def _closed_by_server(raw: socket.socket, timeout: float) -> bool:
    """Drain what the kernel already holds; True once the server has closed or reset the socket."""
    deadline = time.monotonic() + timeout
    raw.settimeout(0.5)
    while time.monotonic() < deadline:
        try:
            if raw.recv(1 << 20) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            continue
    return False


async def stall_scenario(base: str, pid: int, *, frames: int, frame_bytes: int) -> dict:
    """A reading viewer and a stalled one on one room; `frames` context frames of `frame_bytes` each.

    Returns what the reading viewer got, the Daphne process's RSS growth, and whether the stalled
    client was closed by the server.
    """
    room = await database_sync_to_async(RoomFactory)()
    path = f"/ws/rooms/{room.slug}/"
    reader = await _open(base, path)
    stalled = await asyncio.to_thread(_stalled_client, base, path)
    received = 0

    async def read_all() -> None:
        nonlocal received
        while received < frames:
            frame = json.loads(await reader.recv())
            if frame["type"] == "context":
                received += 1

    reading = asyncio.create_task(read_all())
    rss_before = _rss_bytes(pid)
    layer = get_channel_layer()
    padding = "x" * frame_bytes
    for n in range(frames):
        context = {"room": room.slug, "seq": n, "transcript": padding, "events": [], "keywords": [], "topics": []}
        await layer.group_send(room_group(room.slug), {"type": EVENT_CONTEXT, "context": context})
        if n % 20 == 19:
            await asyncio.sleep(0.05)  # a busy room, not one burst the layer's channel cannot hold
    await asyncio.wait_for(reading, 60)
    rss_peak = _rss_bytes(pid)
    closed = await asyncio.to_thread(_closed_by_server, stalled, 10)
    stalled.close()
    await reader.close()
    return {
        "received": received,
        "rss_growth": rss_peak - rss_before,
        "stalled_closed": closed,
        "published_bytes": frames * frame_bytes,
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_closes_a_client_that_stops_reading_while_others_keep_receiving(guarded_daphne):
    process, base = guarded_daphne
    dropped_before = _metric(base, "chatter_ws_slow_dropped_total")
    figures = await stall_scenario(base, process.proc.pid, frames=300, frame_bytes=100_000)
    assert figures["received"] == 300  # the reading viewer got every frame
    assert figures["stalled_closed"], "the server kept the stalled client"
    assert _metric(base, "chatter_ws_slow_dropped_total") == dropped_before + 1
    # 30 MB went out to the room; the stalled client may cost its 256 KiB bound plus the kernel's
    # buffers, not the 30 MB (measured: +0.8 MB; with the bound off, +27 MB).
    assert figures["rss_growth"] < 8 * 1024 * 1024, figures


# --- a resume to a slow reader in a busy room -------------------------------------------------------
def _history(room, *, count: int, text_bytes: int) -> None:
    """`count` persisted bot messages in one go (ingesting them one by one would take the test's time)."""
    from chat.models import Conversation, Message, Room

    conversation = Conversation.objects.create(room=room, first_seq=1, last_seq=count, message_count=count)
    Message.objects.bulk_create(
        Message(
            room=room, conversation=conversation, seq=seq, origin="bot", author_key="bot:history",
            author_name="history", author_color="#33aaff", text=f"{seq} " + "h" * text_bytes,
        )
        for seq in range(1, count + 1)
    )
    Room.objects.filter(pk=room.pk).update(last_seq=count)


def _live_messages(room, count: int) -> None:
    from chat.services import draft_parse, message_ingest
    from tests.factories import bot_draft

    for n in range(count):
        message_ingest(draft=draft_parse(bot_draft(room=room, text=f"live {n}")))


async def _wait_metric(base: str, name: str, at_least: float, timeout: float = 60) -> float:
    deadline = time.monotonic() + timeout
    while (value := await asyncio.to_thread(_metric, base, name)) < at_least:
        assert time.monotonic() < deadline, f"{name} stayed at {value}, expected {at_least}"
        await asyncio.sleep(0.2)
    return value


async def _messages_until_pong(socket_) -> list[dict]:
    items: list[dict] = []
    async with asyncio.timeout(60):
        while (frame := json.loads(await socket_.recv()))["type"] != "pong":
            if frame["type"] == "messages":
                items.extend(frame["items"])
    return items


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
@pytest.mark.slow
async def test_it_caps_what_a_resume_holds_for_a_slow_reader_and_the_reader_still_gets_everything(guarded_daphne):
    _, base = guarded_daphne
    # 8 MB of history: more than the kernel's socket buffers absorb (tcp_wmem's 4 MB maximum), so
    # the resume has to wait for the reader.
    history, live = 12000, 4 * RESUME_HELD_MAX
    room = await database_sync_to_async(RoomFactory)()
    await database_sync_to_async(_history)(room, count=history, text_bytes=480)
    dropped_before = _metric(base, "chatter_ws_resume_held_dropped_total")
    host, port = base.removeprefix("http://").split(":")
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow reader: the server's output backs up
    raw.connect((host, int(port)))
    slow = await websockets.connect(_ws(base, f"/ws/rooms/{room.slug}/"), origin=base, sock=raw, max_size=2**24, max_queue=1, open_timeout=10)
    assert json.loads(await asyncio.wait_for(slow.recv(), 10))["type"] == "hello"
    await slow.send(json.dumps({"type": "resume", "after_seq": 0}))
    await slow.send(json.dumps({"type": "ping"}))  # answered once the resume is done
    # The resume is paused on the unread pages; the room meanwhile gets four times what may be held.
    await _wait_metric(base, "chatter_ws_resumes_waiting", 1)
    await database_sync_to_async(_live_messages)(room, live)
    await _wait_metric(base, "chatter_ws_resume_held_dropped_total", dropped_before + live - RESUME_HELD_MAX)

    # What the process held is bounded by the cap (the rest was counted as dropped, above); the
    # reader still gets everything: pages are read from the database until the end, and a seq gap
    # left by the dropped ones is filled by resuming from what it has, as the room page does.
    items = await _messages_until_pong(slow)
    have = {item["seq"] for item in items}
    assert [item["seq"] for item in items][:history] == list(range(1, history + 1))
    if len(have) < history + live:
        contiguous = next(seq for seq in range(1, history + live + 2) if seq not in have) - 1
        await slow.send(json.dumps({"type": "resume", "after_seq": contiguous}))
        await slow.send(json.dumps({"type": "ping"}))
        have |= {item["seq"] for item in await _messages_until_pong(slow)}
    assert have == set(range(1, history + live + 1))
    await slow.close()
