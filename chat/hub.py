"""Process-local fan-out: one channel-layer subscription per Daphne process, not one per viewer.

The textbook Channels chat does one `group_send` per message and the layer then does one hop per
viewer; at hundreds of messages a second to a thousand viewers the per-viewer hop is the cost.
Here each process joins a room's group once with its hub channel, buffers what arrives, puts it
back in seq order (filling any gap from the database) and every few tens of milliseconds encodes
ONE `messages` frame that it writes to each of its local sockets.
"""
from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings

from chat import metrics, presence
from chat.events import (
    EVENT_CONTEXT,
    EVENT_MESSAGES,
    EVENT_MODERATION,
    EVENT_SIGNED_OUT,
    EVENT_TRENDS,
    SESSIONS_GROUP,
    room_group,
    viewers_key,
)
from chat.models import Room
from chat.selectors import messages_after, room_cache_forget, tombstone_payload
from chatter_site.lib import socket_writes
from chatter_site.lib.redis import redis_client

logger = logging.getLogger(__name__)

# How long an out-of-order message waits for the seqs before it before the hub reads them.
GAP_WAIT_SECONDS = 0.25
GROUP_REFRESH_SECONDS = 600
VIEWERS_REFRESH_SECONDS = 5
# How often a hub looks at its rooms' chatter lists (a join shows up within about this long).
PRESENCE_TICK_SECONDS = 1.0
CAST_CACHE_SECONDS = 30.0
CHATTERS_BIG_ROOM = 200  # sockets in this process
CHATTERS_BIG_ROOM_INTERVAL = 5.0
# A flush to a thousand sockets takes tens of milliseconds; it lets the event loop run every this
# many sockets, so the receive loop (several Redis round trips per event) and the sockets' writes
# keep going meanwhile instead of the hub falling behind the room when the CPU is short.
FLUSH_YIELD_EVERY = 64
# Young collections every 20k allocations, a full one only after 100 middle ones (see _tune_gc).
GC_THRESHOLDS = (20_000, 50, 100)
_gc_tuned = False


class Viewer(Protocol):
    presence: tuple[str, str] | None  # (name, role) of a signed-in viewer; None when anonymous
    wants_chatters: bool  # the socket asked for `chatters` frames (the room page does, ?chatters=1)

    def deliver_at_once(self, frame: socket_writes.OutgoingFrame, items: list[dict[str, Any]]) -> bool: ...

    async def deliver_messages(self, frame: str, items: list[dict[str, Any]]) -> None: ...

    async def deliver_frame(self, frame: str) -> None: ...

    async def close_banned(self, frame: dict[str, Any]) -> None: ...


@dataclass
class RoomFeed:
    slug: str
    next_seq: int
    viewers: set = field(default_factory=set)
    pending: dict[int, dict[str, Any]] = field(default_factory=dict)
    gap_since: float | None = None
    filling: bool = False
    # Presence (chat.presence): signed-in (name, role) -> open sockets here; written when changed.
    people: Counter = field(default_factory=Counter)
    presence_dirty: bool = True
    presence_written_at: float = 0.0
    chatters_json: str | None = None  # the last `chatters` frame sent here, for newcomers
    chatters_sent_at: float = float("-inf")
    cast: list = field(default_factory=list)
    cast_read_at: float = float("-inf")

    def offer(self, item: dict[str, Any]) -> None:
        seq = item["seq"]
        if seq >= self.next_seq:
            self.pending[seq] = item

    def take_ready(self) -> list[dict[str, Any]]:
        """The contiguous run starting at next_seq."""
        ready = []
        while self.next_seq in self.pending:
            ready.append(self.pending.pop(self.next_seq))
            self.next_seq += 1
        if self.pending:
            self.gap_since = self.gap_since or time.monotonic()
        else:
            self.gap_since = None
        return ready


def shed_bot_messages(items: list[dict[str, Any]], limit: int) -> list[dict[str, Any]]:
    """Under backpressure drop the oldest bot messages first; humans' messages always go out.

    Dropped messages stay in the database: a client seeing the seq gap resumes and fetches them.
    """
    excess = len(items) - limit
    if excess <= 0:
        return items
    kept = []
    for item in items:
        if excess > 0 and item.get("origin") == "bot":
            excess -= 1
            continue
        kept.append(item)
    metrics.BROADCAST_DROPPED.inc(len(items) - len(kept))
    return kept


class Hub:
    def __init__(self) -> None:
        self.feeds: dict[str, RoomFeed] = {}
        self.channel: str | None = None
        self._start_lock = asyncio.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None  # the loop get_hub made this hub for
        self._tasks: list[asyncio.Task] = []
        self._process_id = f"{os.uname().nodename}:{os.getpid()}"
        # Subscribing a room and unsubscribing it are serialised per room: a thousand viewers
        # arriving at once make one group_add (not a thousand racing ones that exhaust the layer's
        # connection pool), and a join cannot be undone by the group_discard of a concurrent leave.
        self._room_locks: dict[str, asyncio.Lock] = {}

    # --- viewers -----------------------------------------------------------------------------
    def _room_lock(self, slug: str) -> asyncio.Lock:
        lock = self._room_locks.get(slug)
        if lock is None:
            lock = self._room_locks[slug] = asyncio.Lock()
        return lock

    async def join(self, slug: str, viewer: Viewer) -> None:
        await self._ensure_started()
        feed = self.feeds.get(slug)
        if feed is None:
            async with self._room_lock(slug):
                feed = self.feeds.get(slug)
                if feed is None:
                    await get_channel_layer().group_add(room_group(slug), self.channel)
                    # Read the room's position after subscribing, so nothing slips between the two.
                    last_seq = await _room_last_seq(slug)
                    feed = self.feeds[slug] = RoomFeed(slug=slug, next_seq=last_seq + 1)
        feed.viewers.add(viewer)
        feed.presence_dirty = True
        identity = getattr(viewer, "presence", None)
        if identity is not None:
            feed.people[identity] += 1
        metrics.CONNECTED_CLIENTS.inc()

    async def leave(self, slug: str, viewer: Viewer) -> None:
        feed = self.feeds.get(slug)
        if feed is None or viewer not in feed.viewers:
            return
        feed.viewers.discard(viewer)
        feed.presence_dirty = True
        identity = getattr(viewer, "presence", None)
        if identity is not None:
            feed.people[identity] -= 1
            if feed.people[identity] <= 0:
                del feed.people[identity]
        metrics.CONNECTED_CLIENTS.dec()
        if feed.viewers:
            return
        async with self._room_lock(slug):
            if self.feeds.get(slug) is not feed or feed.viewers:
                return  # a viewer joined while this one left: the room stays subscribed
            del self.feeds[slug]
            try:
                await asyncio.to_thread(presence.presence_entry_remove, room_slug=slug, process_id=self._process_id)
            except Exception:
                logger.warning("presence entry removal failed room=%s", slug, exc_info=True)
            try:
                await get_channel_layer().group_discard(room_group(slug), self.channel)
            except Exception:
                logger.warning("group_discard failed room=%s", slug, exc_info=True)

    def chatters_frame(self, slug: str) -> str | None:
        """The room's last `chatters` frame, for a socket that just joined (None before the first)."""
        feed = self.feeds.get(slug)
        return feed.chatters_json if feed else None

    async def close(self) -> None:
        """Stop the loops (Daphne never needs this; tests that start and stop loops do)."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self.channel = None

    # --- loops -------------------------------------------------------------------------------
    async def _ensure_started(self) -> None:
        async with self._start_lock:
            if self.channel is not None and all(not task.done() for task in self._tasks):
                return
            _tune_gc()
            socket_writes.install()
            self.channel = await get_channel_layer().new_channel(prefix="hub")
            await get_channel_layer().group_add(SESSIONS_GROUP, self.channel)
            loop = asyncio.get_running_loop()
            self._tasks = [
                loop.create_task(self._receive_loop(), name="hub-receive"),
                loop.create_task(self._flush_loop(), name="hub-flush"),
                loop.create_task(self._housekeeping_loop(), name="hub-housekeeping"),
            ]

    async def _receive_loop(self) -> None:
        layer = get_channel_layer()
        backoff = 0.1
        while True:
            try:
                event = await layer.receive(self.channel)
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception:
                # Redis went away: once it is back, re-subscribe and re-read whatever we missed.
                logger.warning("hub receive failed; retrying in %.1fs", backoff, exc_info=True)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                await self._resubscribe()
                continue
            self._dispatch(event)

    def _dispatch(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        room = None
        if kind == EVENT_MESSAGES:
            for item in event.get("items", ()):
                feed = self.feeds.get(item.get("room"))
                if feed is not None:
                    feed.offer(item)
            return
        if kind == EVENT_MODERATION:
            self._moderate(event)
            return
        if kind == EVENT_SIGNED_OUT:
            asyncio.get_running_loop().create_task(self._close_signed_out(event))
            return
        if kind == EVENT_CONTEXT:
            room, frame = event["context"]["room"], json.dumps({"type": "context", "context": event["context"]})
        elif kind == EVENT_TRENDS:
            room, frame = event["trends"]["room"], json.dumps({"type": "trends", "trends": event["trends"]})
        else:
            logger.warning("hub ignored unknown event type=%r", kind)
            return
        feed = self.feeds.get(room)
        if feed is not None:
            asyncio.get_running_loop().create_task(self._send_all(feed, frame))

    def _moderate(self, event: dict[str, Any]) -> None:
        """A moderator acted: messages still waiting here go out as tombstones, the room's modes are
        read afresh, every viewer gets the frame, and a banned viewer's sockets close after it."""
        slug, frame = event["room"], event["frame"]
        room_cache_forget(slug=slug)
        feed = self.feeds.get(slug)
        if feed is None:
            return
        doomed = set(frame.get("seqs") or ())
        upto = frame.get("upto") or 0
        for seq in list(feed.pending):
            if seq in doomed or seq <= upto:
                feed.pending[seq] = tombstone_payload(seq)
        close_user_id = event.get("close_user_id")
        asyncio.get_running_loop().create_task(self._send_moderation(feed, frame, close_user_id))

    async def _send_moderation(self, feed: RoomFeed, frame: dict[str, Any], close_user_id: int | None) -> None:
        await self._send_all(feed, json.dumps(frame))
        if close_user_id is None:
            return
        for viewer in list(feed.viewers):
            if getattr(viewer, "user_id", None) == close_user_id:
                try:
                    await viewer.close_banned(frame)
                except Exception:
                    logger.debug("closing a banned viewer's socket failed", exc_info=True)

    async def _close_signed_out(self, event: dict[str, Any]) -> None:
        """A session ended: its sockets (in every room this process serves) stop posting as that user."""
        user_id, session_key = event.get("user_id"), event.get("session_key")
        for feed in list(self.feeds.values()):
            for viewer in list(feed.viewers):
                if getattr(viewer, "user_id", None) != user_id:
                    continue
                if session_key and getattr(viewer, "session_key", None) != session_key:
                    continue
                try:
                    await viewer.close_signed_out()
                except Exception:
                    logger.debug("closing a signed-out viewer's socket failed", exc_info=True)

    async def _resubscribe(self) -> None:
        layer = get_channel_layer()
        try:
            await layer.group_add(SESSIONS_GROUP, self.channel)
        except Exception:
            logger.warning("hub re-subscribe to sessions failed", exc_info=True)
        for slug, feed in list(self.feeds.items()):
            try:
                await layer.group_add(room_group(slug), self.channel)
                feed.gap_since = time.monotonic() - GAP_WAIT_SECONDS  # read from the DB right away
            except Exception:
                logger.warning("hub re-subscribe failed room=%s", slug, exc_info=True)

    async def _flush_loop(self) -> None:
        interval = settings.CHAT_BROADCAST_INTERVAL
        while True:
            await asyncio.sleep(interval)
            for feed in list(self.feeds.values()):
                try:
                    await self._flush(feed)
                except Exception:
                    logger.exception("hub flush failed room=%s", feed.slug)

    async def _flush(self, feed: RoomFeed) -> None:
        items = feed.take_ready()
        if feed.gap_since is not None and not feed.filling and time.monotonic() - feed.gap_since >= GAP_WAIT_SECONDS:
            feed.filling = True
            asyncio.get_running_loop().create_task(self._fill_gap(feed))
        if not items:
            return
        items = shed_bot_messages(items, settings.CHAT_BROADCAST_QUEUE_LIMIT)
        frame = socket_writes.OutgoingFrame(json.dumps({"type": "messages", "items": items}))
        metrics.BROADCAST_FRAMES.inc(len(feed.viewers))
        metrics.BROADCAST_MESSAGES.inc(len(feed.viewers) * len(items))
        for n, viewer in enumerate(list(feed.viewers)):
            if n and not n % FLUSH_YIELD_EVERY:
                await asyncio.sleep(0)
            try:
                if not viewer.deliver_at_once(frame, items):
                    await viewer.deliver_messages(frame.text, items)
            except Exception:
                logger.debug("delivery to a closing socket failed", exc_info=True)

    async def _fill_gap(self, feed: RoomFeed) -> None:
        """Read the seqs the layer did not bring (lost, or still in flight) from the database."""
        try:
            upto = min(feed.pending) if feed.pending else None
            limit = settings.CHAT_HISTORY_PAGE if upto is None else max(1, min(upto - feed.next_seq, 5000))
            rows = await database_sync_to_async(_messages_after_slug)(feed.slug, feed.next_seq - 1, limit)
            metrics.BROADCAST_GAP_FILLS.inc()
            for row in rows:
                feed.offer(row)
            if upto is not None and feed.next_seq not in feed.pending and not any(
                row["seq"] < upto for row in rows
            ):
                # The missing seqs are not in the database (a moderator deleted them): skip ahead.
                feed.next_seq = upto
            if not feed.pending:
                feed.gap_since = None
        except Exception:
            logger.warning("hub gap fill failed room=%s", feed.slug, exc_info=True)
        finally:
            feed.filling = False

    async def _send_all(self, feed: RoomFeed, frame: str, only: Callable[[Any], bool] | None = None) -> None:
        viewers = [viewer for viewer in feed.viewers if only(viewer)] if only else list(feed.viewers)
        for n, viewer in enumerate(viewers):
            if n and not n % FLUSH_YIELD_EVERY:
                await asyncio.sleep(0)
            try:
                await viewer.deliver_frame(frame)
            except Exception:
                logger.debug("delivery to a closing socket failed", exc_info=True)

    async def _housekeeping_loop(self) -> None:
        last_refresh = last_counts = time.monotonic()
        while True:
            await asyncio.sleep(PRESENCE_TICK_SECONDS)
            try:
                if time.monotonic() - last_counts >= VIEWERS_REFRESH_SECONDS:
                    await asyncio.to_thread(self._publish_viewer_counts)
                    last_counts = time.monotonic()
                for feed in list(self.feeds.values()):
                    await self._presence_tick(feed)
                if time.monotonic() - last_refresh > GROUP_REFRESH_SECONDS:
                    await self._resubscribe()
                    last_refresh = time.monotonic()
            except Exception:
                logger.warning("hub housekeeping failed", exc_info=True)

    async def _presence_tick(self, feed: RoomFeed) -> None:
        """Write this process's share of the room when it changed, read the room's merged list, and
        push a `chatters` frame to the local sockets only when that list changed."""
        now = time.monotonic()
        if feed.presence_dirty or now - feed.presence_written_at >= VIEWERS_REFRESH_SECONDS:
            feed.presence_dirty = False
            feed.presence_written_at = now
            await asyncio.to_thread(
                presence.presence_entry_write,
                room_slug=feed.slug, process_id=self._process_id, sockets=len(feed.viewers), people=Counter(feed.people),
            )
        if now - feed.cast_read_at >= CAST_CACHE_SECONDS:
            feed.cast = await database_sync_to_async(presence.room_cast)(room_slug=feed.slug)
            feed.cast_read_at = now
        # A big room's list changes every second (people come and go): it goes out less often there.
        if now - feed.chatters_sent_at < (CHATTERS_BIG_ROOM_INTERVAL if len(feed.viewers) >= CHATTERS_BIG_ROOM else 0):
            return
        merged = await asyncio.to_thread(presence.chatters_read, room_slug=feed.slug, cast=feed.cast)
        frame = json.dumps(merged)
        if frame != feed.chatters_json:
            feed.chatters_json = frame
            feed.chatters_sent_at = now
            await self._send_all(feed, frame, only=lambda viewer: getattr(viewer, "wants_chatters", False))

    def _publish_viewer_counts(self) -> None:
        pipe = redis_client().pipeline(transaction=False)
        stamp = time.time()
        for slug, feed in self.feeds.items():
            pipe.hset(viewers_key(slug), self._process_id, f"{len(feed.viewers)}:{stamp}")
            pipe.expire(viewers_key(slug), 60)
        pipe.execute()


def _tune_gc() -> None:
    """Keep the cyclic GC from stalling the event loop of a process that feeds many sockets.

    A flush allocates tens of objects per viewer (coroutines, ASGI messages, Twisted write handles)
    that live until the socket write a few milliseconds later. With CPython's default thresholds
    (700, 10, 10) young collections run every few hundred allocations, promote them, and a full
    collection of the whole heap (~250k objects with 1,000 sockets) stalls the loop for 120-180 ms
    every second or two, in every viewer's latency. With a larger young generation they die young,
    full collections become rare, and what was loaded before the first viewer (Django, the apps,
    ~150k objects) is frozen out of them. Once per process.
    """
    global _gc_tuned
    if _gc_tuned:
        return
    _gc_tuned = True
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def _messages_after_slug(slug: str, after_seq: int, limit: int) -> list[dict[str, Any]]:
    room = Room.objects.get(slug=slug)
    return messages_after(room=room, after_seq=after_seq, limit=limit)


@database_sync_to_async
def _room_last_seq(slug: str) -> int:
    return Room.objects.filter(slug=slug).values_list("last_seq", flat=True).get()


_hub: Hub | None = None


def get_hub() -> Hub:
    """The hub of this process and event loop (Daphne runs one loop per process)."""
    global _hub
    loop = asyncio.get_running_loop()
    if _hub is None or getattr(_hub, "_loop", None) is not loop:
        _hub = Hub()
        _hub._loop = loop
    return _hub

