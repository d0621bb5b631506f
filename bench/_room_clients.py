"""WebSocket clients of a room that behave like static/chat/room.js (reconnect with jittered
backoff, `resume` from the last seq on every hello and on a seq gap, the outbox of a signed-in
user), and the ledger of which client got which seq when. Used by bench/soak.py."""
from __future__ import annotations

import asyncio
import collections
import json
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

# The client's timing (static/chat/room.js and connection.js).
BACKOFF_MIN = 0.5
BACKOFF_MAX = 15.0
STABLE_CONNECTION = 5.0
RESUME_MIN_INTERVAL = 1.0
GAP_CHECK = 2.0
GAP_MAX_STRIKES = 3
PING_INTERVAL = 20.0
SILENCE_LIMIT = 50.0
ACK_TIMEOUT = 10.0
UNAVAILABLE_RETRY_SECONDS = 2.0  # room.js sends again this long after an `unavailable` error


@dataclass
class Ledger:
    """Shared by every client: per seq, who has it and when everybody had it."""

    clients: int = 0
    holders: dict[int, int] = field(default_factory=collections.Counter)
    first_seen: dict[int, float] = field(default_factory=dict)
    all_seen: dict[int, float] = field(default_factory=dict)
    origin: dict[int, str] = field(default_factory=dict)

    def got(self, seq: int, origin: str, now: float) -> None:
        self.holders[seq] += 1
        if seq not in self.first_seen:
            self.first_seen[seq] = now
            self.origin[seq] = origin
        if self.holders[seq] == self.clients:
            self.all_seen[seq] = now


class RoomClient:
    """One WebSocket client of the room, with room.js's reconnect, resume and gap handling."""

    def __init__(self, *, name: str, url: str, origin: str, ledger: Ledger, cookie: str | None = None) -> None:
        self.name = name
        self.url = url
        self.origin = origin
        self.cookie = cookie
        self.ledger = ledger
        self.baseline: int | None = None  # the room's last seq when this client first connected
        self.last_seq = 0  # every seq <= last_seq has been received (or given up on)
        self.ahead: set[int] = set()
        self.seen: set[int] = set()
        self.redelivered = 0  # a seq received again (allowed around a resume; ignored like room.js does)
        self.gave_up: list[int] = []
        self.connects = 0
        self.closes: collections.Counter[str] = collections.Counter()
        self.resumes = 0
        self.gap_resumes = 0
        self.stopping = False
        self.ws = None
        self.last_resume_at = 0.0
        self.resume_due: float | None = None
        self.gap_check_at: float | None = None
        self.gap_mark = 0
        self.gap_strikes = 0

    async def run(self, deadline: float) -> None:
        import websockets

        attempt = 0
        loop = asyncio.get_running_loop()
        while not self.stopping and loop.time() < deadline:
            opened = loop.time()
            reason = "closed"
            try:
                await self._session(deadline)
            except websockets.exceptions.ConnectionClosed as exc:
                reason = f"close {exc.rcvd.code if exc.rcvd else 1006}"
            except (OSError, asyncio.TimeoutError, websockets.exceptions.WebSocketException) as exc:
                reason = type(exc).__name__
            finally:
                self.ws = None
            if self.stopping:
                return
            self.closes[reason] += 1
            self.on_socket_lost()
            if loop.time() - opened > STABLE_CONNECTION:
                attempt = 0
            ceiling = min(BACKOFF_MAX, BACKOFF_MIN * 2**attempt)
            attempt += 1
            await asyncio.sleep(max(BACKOFF_MIN / 2, ceiling / 2 + random.random() * ceiling / 2))

    async def _session(self, deadline: float) -> None:
        from websockets.asyncio.client import connect

        headers = {"Cookie": self.cookie} if self.cookie else None
        loop = asyncio.get_running_loop()
        async with connect(
            self.url, origin=self.origin, additional_headers=headers, open_timeout=10, ping_interval=None,
            close_timeout=2, max_size=2**23,
        ) as ws:
            self.ws = ws
            self.connects += 1
            last_frame = next_ping = loop.time()
            while not self.stopping and loop.time() < deadline:
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout=0.5)
                except asyncio.TimeoutError:
                    raw = None
                now = loop.time()
                if raw is not None:
                    last_frame = now
                    await self.on_frame(json.loads(raw))
                elif now - last_frame > SILENCE_LIMIT:
                    return  # a silent socket is dead: replace it
                if now >= next_ping + PING_INTERVAL:
                    next_ping = now
                    await ws.send(json.dumps({"type": "ping"}))
                await self.on_tick(now)

    async def send(self, frame: dict[str, Any]) -> bool:
        if self.ws is None:
            return False
        try:
            await self.ws.send(json.dumps(frame))
            return True
        except Exception:
            return False

    async def on_frame(self, frame: dict[str, Any]) -> None:
        kind = frame.get("type")
        if kind == "hello":
            server_seq = int(frame.get("last_seq") or 0)
            if self.baseline is None:
                self.baseline = self.last_seq = server_seq
            if server_seq > self.last_seq or self.ahead:
                await self._resume()
        elif kind == "messages":
            self.on_items(frame.get("items") or [])

    def on_items(self, items: list[dict[str, Any]]) -> None:
        now = time.time()
        for item in items:
            seq = int(item["seq"])
            if seq in self.seen or (self.baseline is not None and seq <= self.baseline):
                self.redelivered += seq in self.seen
                continue
            self.seen.add(seq)
            self.ledger.got(seq, item.get("origin", ""), now)
            if seq == self.last_seq + 1:
                self.last_seq = seq
                while self.last_seq + 1 in self.ahead:
                    self.ahead.discard(self.last_seq + 1)
                    self.last_seq += 1
            elif seq > self.last_seq:
                self.ahead.add(seq)
        if self.ahead and self.resume_due is None:
            self.resume_due = max(time.monotonic(), self.last_resume_at + RESUME_MIN_INTERVAL)

    async def _resume(self) -> None:
        self.last_resume_at = time.monotonic()
        self.resume_due = None
        if await self.send({"type": "resume", "after_seq": self.last_seq}):
            self.resumes += 1
            if self.ahead and self.gap_check_at is None:
                self.gap_check_at = time.monotonic() + GAP_CHECK
                self.gap_mark = self.last_seq

    async def on_tick(self, now: float) -> None:
        mono = time.monotonic()
        if self.resume_due is not None and mono >= self.resume_due and self.ahead:
            self.gap_resumes += 1
            await self._resume()
        if self.gap_check_at is not None and mono >= self.gap_check_at:
            self.gap_check_at = None
            if not self.ahead:
                self.gap_strikes = 0
                return
            self.gap_strikes = self.gap_strikes + 1 if self.last_seq == self.gap_mark else 0
            if self.gap_strikes >= GAP_MAX_STRIKES:
                # room.js stops waiting for seqs that never come (deleted by a moderator); here that is a loss.
                self.gap_strikes = 0
                first = min(self.ahead)
                self.gave_up.extend(range(self.last_seq + 1, first))
                self.last_seq = first - 1
                self.on_items([])
                while self.last_seq + 1 in self.ahead:
                    self.ahead.discard(self.last_seq + 1)
                    self.last_seq += 1
            if self.ahead and self.resume_due is None:
                self.resume_due = max(mono, self.last_resume_at + RESUME_MIN_INTERVAL)

    def on_socket_lost(self) -> None:
        self.resume_due = None
        self.gap_check_at = None


@dataclass
class Outgoing:
    text: str
    first_sent: float
    sent: bool = False
    attempts: int = 0


class Human(RoomClient):
    """A signed-in viewer who also types: room.js's outbox, one message in flight at a time."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pending: dict[str, Outgoing] = {}
        self.in_flight: str | None = None
        self.in_flight_at = 0.0
        self.typed: dict[str, float] = {}  # client_id -> when typed (time.time())
        self.acked: dict[str, tuple[int, float]] = {}  # client_id -> (seq, when it came back)
        self.refused: dict[str, str] = {}  # client_id -> error code
        self.retry_after = 0.0  # after an `unavailable` error, nothing is sent before this (monotonic)
        self.errors: collections.Counter[str] = collections.Counter()
        self.counter = 0

    def type_message(self, text: str) -> None:
        client_id = str(uuid.uuid4())
        now = time.time()
        self.typed[client_id] = now
        self.pending[client_id] = Outgoing(text=text, first_sent=now)

    async def pump(self) -> None:
        if self.in_flight is not None or self.ws is None or time.monotonic() < self.retry_after:
            return
        client_id = next((cid for cid, out in self.pending.items() if not out.sent), None)
        if client_id is None:
            return
        out = self.pending[client_id]
        out.sent = True
        out.attempts += 1
        self.in_flight, self.in_flight_at = client_id, time.monotonic()
        if not await self.send({"type": "send", "text": out.text, "client_id": client_id}):
            out.sent = False
            self.in_flight = None

    async def on_frame(self, frame: dict[str, Any]) -> None:
        await super().on_frame(frame)
        kind = frame.get("type")
        if kind == "hello":
            await self.pump()
        elif kind == "messages":
            now = time.time()
            for item in frame.get("items") or []:
                client_id = item.get("client_id")
                if client_id in self.pending:
                    del self.pending[client_id]
                    self.acked[client_id] = (int(item["seq"]), now)
                    if self.in_flight == client_id:
                        self.in_flight = None
            await self.pump()
        elif kind == "error":
            code = str(frame.get("code"))
            self.errors[code] += 1
            if code == "unavailable" and self.in_flight is not None:
                # As room.js: nothing was stored, the same client_id goes again a little later.
                out = self.pending.get(self.in_flight)
                if out is not None:
                    out.sent = False
                self.in_flight = None
                self.retry_after = time.monotonic() + UNAVAILABLE_RETRY_SECONDS
                return
            if self.in_flight is not None:
                self.refused[self.in_flight] = code
                self.pending.pop(self.in_flight, None)
                self.in_flight = None
            await self.pump()

    async def on_tick(self, now: float) -> None:
        await super().on_tick(now)
        if self.in_flight is not None and time.monotonic() - self.in_flight_at > ACK_TIMEOUT:
            self.in_flight = None  # no ack yet: the next one goes; this one is sent again after a reconnect
        await self.pump()

    def on_socket_lost(self) -> None:
        super().on_socket_lost()
        self.in_flight = None
        for out in self.pending.values():
            out.sent = False
