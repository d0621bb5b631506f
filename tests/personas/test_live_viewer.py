"""The cast as a viewer sees it: beat-equivalent ticks enqueue generation on a real Celery worker,
the worker asks the local OpenAI-compatible server, and the lines reach a WebSocket viewer on a
real Daphne through the Redis channel layer."""
from __future__ import annotations

import asyncio
import json
import random
import time
import uuid

import pytest
import websockets
from channels.db import database_sync_to_async

from personas.services import cast_tick
from tests.factories import RoomFactory
from tests.personas.factories import PersonaFactory, RosterEntryFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio, pytest.mark.slow]

DEADLINE_SECONDS = 20
TICK_WAIT_SECONDS = 3  # how long to collect frames after one tick before the next tick


def _room_with_cast():
    room = RoomFactory()
    suffix = uuid.uuid4().hex[:4]
    handles = [f"{name}_{suffix}" for name in ("hypeowl", "pixelpal", "lagcat")]
    for handle in handles:
        RosterEntryFactory(room=room, persona=PersonaFactory(handle=handle, chattiness=1.0, max_posts_per_minute=10))
    return room, handles


async def test_a_viewer_sees_lines_from_several_personas_in_seq_order(live_daphne, celery_worker, llm_server):
    room, handles = await database_sync_to_async(_room_with_cast)()
    url = live_daphne.replace("http://", "ws://") + f"/ws/rooms/{room.slug}/"
    socket = await websockets.connect(url, origin=live_daphne, max_size=2**24, open_timeout=10)
    try:
        hello = json.loads(await asyncio.wait_for(socket.recv(), 10))
        assert hello["type"] == "hello"

        items: list[dict] = []
        deadline = time.monotonic() + DEADLINE_SECONDS
        tick = 0
        while time.monotonic() < deadline and len({item["author"]["name"] for item in items}) < 2:
            tick += 1
            await database_sync_to_async(cast_tick)(room=room, rng=random.Random(tick))
            # Poll the socket until this tick's lines arrive (or a short wait runs out), then tick again.
            tick_deadline = min(deadline, time.monotonic() + TICK_WAIT_SECONDS)
            while time.monotonic() < tick_deadline and len({item["author"]["name"] for item in items}) < 2:
                try:
                    frame = json.loads(await asyncio.wait_for(socket.recv(), tick_deadline - time.monotonic()))
                except TimeoutError:
                    break
                if frame["type"] == "messages":
                    items.extend(frame["items"])
    finally:
        await socket.close()

    authors = {item["author"]["name"] for item in items}
    assert len(authors) >= 2, f"after {tick} tick(s) the viewer saw lines from {sorted(authors)} only"
    assert authors <= set(handles), f"unexpected authors {authors - set(handles)}"
    assert all(item["origin"] == "bot" and item["text"] for item in items)
    seqs = [item["seq"] for item in items]
    assert all(a < b for a, b in zip(seqs, seqs[1:])), f"seq not strictly increasing: {seqs}"
