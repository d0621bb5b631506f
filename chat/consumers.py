"""The room WebSocket of SPEC 4.3: `/ws/rooms/<slug>/`."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.db import DatabaseError
from redis.exceptions import RedisError

from chat.hub import get_hub
from chat.ingest import SessionCheck, SessionEnded, ingest_queue
from chat.metrics import RESUME_HELD_DROPPED, RESUMES_REFUSED, RESUMES_WAITING
from chat.models import Room, RoomSanction
from chat.moderation import sanction_active, sanction_error
from chat.schemas import PingFrame, ResumeFrame, SendFrame, client_frame_adapter
from chat.selectors import messages_after, room_get, viewer_role
from chatter_site.lib.errors import ChatterError, ErrorCode, schema_validate
from chatter_site.lib.socket_writes import OutgoingFrame
from chatter_site.lib.untrusted_json import json_loads_untrusted
from chatter_site.lib.wsguard import FRAME_WRITER_SCOPE_KEY, SEND_BACKLOG_SCOPE_KEY

logger = logging.getLogger(__name__)

# Viewer sockets get their messages from the process hub, not from a channel of their own.
NO_CHANNEL_LAYER = "viewer sockets are fed by chat.hub"
# Repeated invalid frames are abuse, not mistakes: past this many the socket is closed.
MAX_INVALID_FRAMES = 20
# A resume's rate per socket is counted over this window (CHAT_WS_RESUMES_PER_MINUTE).
RESUME_RATE_WINDOW_SECONDS = 60.0
# The close code of a banned viewer's sockets (4403: forbidden, in the private range).
CLOSE_BANNED = 4403
# The close code of a socket whose session ended (sign-out, password changed): sign in again.
CLOSE_SIGNED_OUT = 4401


def client_frame_validate(content: Any) -> SendFrame | ResumeFrame | PingFrame:
    """A decoded client frame checked against the schema; ChatterError(ErrorCode.INVALID) otherwise."""
    return schema_validate(client_frame_adapter, content, root="frame")


def client_frame_parse(*, text_data: str | None, bytes_data: bytes | None, max_bytes: int) -> SendFrame | ResumeFrame | PingFrame:
    """One inbound WebSocket frame, as the client sent it, into a validated frame.

    Raises ChatterError `too_large` or `invalid` for anything else, and nothing but ChatterError:
    the socket answers the refusal and stays open.
    """
    if text_data is not None:
        # surrogatepass: a lone surrogate cannot come from a real socket, but must not crash the size check.
        size = len(text_data.encode("utf-8", "surrogatepass"))
    else:
        size = len(bytes_data or b"")
    if size > max_bytes:
        raise ChatterError(ErrorCode.TOO_LARGE, f"frame of {size} bytes exceeds {max_bytes}")
    if text_data is None:
        raise ChatterError(ErrorCode.INVALID, "frames must be JSON text")
    try:
        content = json_loads_untrusted(text_data)
    except ValueError:
        raise ChatterError(ErrorCode.INVALID, "frame is not valid JSON") from None
    return client_frame_validate(content)


class RoomConsumer(AsyncJsonWebsocketConsumer):
    channel_layer_alias = NO_CHANNEL_LAYER

    async def connect(self) -> None:
        self.slug: str = self.scope["url_route"]["kwargs"]["slug"]
        self.room: Room | None = None
        self.sent_seq = 0
        self.resuming = False
        self.write_frame = self.scope.get(FRAME_WRITER_SCOPE_KEY)
        self.held: list[dict[str, Any]] = []
        self.resume_times: deque[float] = deque()
        self.invalid_frames = 0
        user = self.scope.get("user")
        self.user_id: int | None = user.pk if user is not None and user.is_authenticated else None
        session = self.scope.get("session")
        self.session_key: str | None = getattr(session, "session_key", None)
        # Without a session in the scope (an app built without AuthMiddlewareStack, as in unit
        # tests) there is nothing to recheck against; the site's stack always has one.
        self.session_tracked = session is not None
        self.session_checked_at = time.monotonic()
        self.presence: tuple[str, str] | None = None
        # The chatter list is opt-in (`?chatters=1`): its frames come on their own schedule.
        self.wants_chatters = b"chatters=1" in self.scope.get("query_string", b"").split(b"&")
        try:
            self.room = await database_sync_to_async(room_get)(slug=self.slug)
        except ChatterError:
            await self.close(code=4404)  # unknown room: refused before accept
            return
        if self.user_id is not None:
            # Before accept: the page counts as connected at accept, and its hello should follow at once.
            self.presence = await database_sync_to_async(self._presence)()
        await self.accept()
        if self.user_id is not None:
            # Accepted first so the page learns why (and until when) instead of retrying blindly.
            ban = await database_sync_to_async(_active_ban_frame)(self.room.pk, self.user_id)
            if ban is not None:
                await self.close_banned(ban)
                return
        hub = get_hub()
        await hub.join(self.slug, self)
        last_seq = await database_sync_to_async(_room_last_seq)(self.room.pk)
        self.sent_seq = last_seq
        await self.send_json({"type": "hello", "room": self.slug, "last_seq": last_seq, "user": self._user_info()})
        chatters = hub.chatters_frame(self.slug) if self.wants_chatters else None
        if chatters is not None:
            await self.deliver_frame(chatters)

    async def disconnect(self, code: int) -> None:
        if self.room is not None:
            await get_hub().leave(self.slug, self)

    def _presence(self) -> tuple[str, str] | None:
        """How this socket shows in the room's chatter list (chat.presence); None when anonymous."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return None
        assert self.room is not None  # set in connect(), before any presence
        return user.get_username(), viewer_role(user=user, room=self.room)

    def _user_info(self) -> dict[str, Any] | None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            return None
        return {"name": user.get_username(), "is_staff": user.is_staff}

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Channels' dispatch without its per-event hop to the one sync thread to close stale
        database connections: this consumer touches the database only through
        database_sync_to_async and chat.ingest, which both do that where the queries run. At a
        few hundred sends a second the hop was a tenth of the event loop (py-spy, issue 12)."""
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    # --- inbound ------------------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs) -> None:
        try:
            frame = client_frame_parse(text_data=text_data, bytes_data=bytes_data, max_bytes=settings.CHAT_MAX_FRAME_BYTES)
        except ChatterError as error:
            await self._refuse(error)
            return
        await self._handle(frame)

    async def receive_json(self, content: Any, **kwargs) -> None:
        try:
            frame = client_frame_validate(content)
        except ChatterError as error:
            await self._refuse(error)
            return
        await self._handle(frame)

    async def _handle(self, frame: SendFrame | ResumeFrame | PingFrame) -> None:
        # A refused send names its client_id, so a client with several sends in flight knows which.
        about = {"client_id": frame.client_id} if isinstance(frame, SendFrame) else {}
        try:
            if isinstance(frame, SendFrame):
                await self._send_message(frame)
            elif isinstance(frame, ResumeFrame):
                await self._resume(frame.after_seq)
            elif isinstance(frame, PingFrame):
                await self.send_json({"type": "pong"})
        except ChatterError as error:
            await self.send_json(error.as_frame() | about)
        except (DatabaseError, RedisError):
            # PostgreSQL or Redis is down for a moment: say so and keep the socket. Nothing was
            # persisted (a batch is one transaction), and a resend with the same client_id is safe.
            logger.warning("send failed: a backing service is unavailable room=%s", self.slug, exc_info=True)
            await self.send_json(ChatterError(ErrorCode.UNAVAILABLE, "chat is briefly unavailable; try again").as_frame() | about)

    async def _refuse(self, error: ChatterError) -> None:
        self.invalid_frames += 1
        await self.send_json(error.as_frame())
        if self.invalid_frames > MAX_INVALID_FRAMES:
            await self.close(code=1008)

    async def _send_message(self, frame: SendFrame) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            raise ChatterError(ErrorCode.AUTH_REQUIRED, "sign in to chat")
        due = self.session_tracked and time.monotonic() - self.session_checked_at > settings.CHAT_WS_SESSION_RECHECK_SECONDS
        # Group-committed with the room's other sends in this process, off Channels' sync thread;
        # the batch re-checks that the user is still active and, when due, this socket's session
        # (all due sockets in one query). The message comes back through the hub like everyone
        # else's: that is the sender's ack.
        try:
            await ingest_queue().send(
                user=user, room_slug=self.slug, frame=frame, session=SessionCheck(self.session_key) if due else None
            )
        except SessionEnded:
            await self.close_signed_out()
            return
        if due:
            self.session_checked_at = time.monotonic()

    def _resume_admit(self) -> None:
        """Refuse a resume past CHAT_WS_RESUMES_PER_MINUTE on this socket: each one pages history."""
        now = time.monotonic()
        while self.resume_times and self.resume_times[0] <= now - RESUME_RATE_WINDOW_SECONDS:
            self.resume_times.popleft()
        if len(self.resume_times) >= settings.CHAT_WS_RESUMES_PER_MINUTE:
            RESUMES_REFUSED.inc()
            retry = self.resume_times[0] + RESUME_RATE_WINDOW_SECONDS - now
            raise ChatterError(ErrorCode.RATE_LIMITED, f"too many resumes; try again in {max(retry, 0.1):.1f}s")
        self.resume_times.append(now)

    async def _resume(self, after_seq: int) -> None:
        """Send persisted messages after `after_seq` before any newer live message.

        Bounded on a slow reader in a busy room: at most CHAT_WS_RESUME_MAX_PAGES pages, and at most
        CHAT_WS_RESUME_HELD_MAX live messages held meanwhile (the rest are dropped). Either way the
        client sees a seq gap and resumes again from what it has, so nothing is lost.
        """
        self._resume_admit()
        assert self.room is not None  # set in connect(), before any frame
        room_pk = self.room.pk
        self.resuming = True
        try:
            cursor = after_seq
            for _ in range(settings.CHAT_WS_RESUME_MAX_PAGES):
                page = await database_sync_to_async(_messages_after_room)(room_pk, cursor)
                if not page:
                    break
                await self._wait_for_client_to_read()
                await self.send_json({"type": "messages", "items": page})
                cursor = page[-1]["seq"]
                if len(page) < settings.CHAT_HISTORY_PAGE:
                    break
            self.sent_seq = max(self.sent_seq, cursor)
            held, self.held = self.held, []
            fresh = [item for item in held if item["seq"] > self.sent_seq]
            if fresh:
                await self.send_json({"type": "messages", "items": fresh})
                self.sent_seq = fresh[-1]["seq"]
        finally:
            self.resuming = False
            self.held = []

    async def _wait_for_client_to_read(self) -> None:
        """Pace a long resume to the client's reading, so catching up is not taken for a stalled
        client by the send bound of chatter_site.lib.wsguard (which would close the socket again)."""
        backlog = self.scope.get(SEND_BACKLOG_SCOPE_KEY)
        if backlog is None:
            return
        deadline = time.monotonic() + settings.CHAT_WS_RESUME_DRAIN_SECONDS
        if backlog() <= settings.CHAT_WS_SEND_BUFFER_BYTES // 2:
            return
        RESUMES_WAITING.inc()
        try:
            while backlog() > settings.CHAT_WS_SEND_BUFFER_BYTES // 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        finally:
            RESUMES_WAITING.dec()

    # --- outbound, called by the hub ------------------------------------------------------------
    def deliver_at_once(self, frame: OutgoingFrame, items: list[dict[str, Any]]) -> bool:
        """The hub's fast path: write the shared frame's bytes now; False leaves it to deliver_messages."""
        if self.resuming or self.write_frame is None or items[0]["seq"] <= self.sent_seq:
            return False
        if not self.write_frame(frame.wire):
            return False
        self.sent_seq = items[-1]["seq"]
        return True

    async def deliver_messages(self, frame: str, items: list[dict[str, Any]]) -> None:
        if self.resuming:
            room_left = settings.CHAT_WS_RESUME_HELD_MAX - len(self.held)
            if room_left < len(items):
                # Beyond the cap the client resumes again by seq instead of this process holding it.
                RESUME_HELD_DROPPED.inc(len(items) - max(room_left, 0))
                items = items[: max(room_left, 0)]
            self.held.extend(items)
            return
        if items[-1]["seq"] <= self.sent_seq:
            return
        if items[0]["seq"] <= self.sent_seq:
            items = [item for item in items if item["seq"] > self.sent_seq]
            frame = json.dumps({"type": "messages", "items": items})
        # Straight to the ASGI send (what self.send(text_data=...) ends in): the hub calls this once
        # per viewer per frame, so the two wrapper coroutines are a measurable share of Daphne's CPU.
        await self.base_send({"type": "websocket.send", "text": frame})
        self.sent_seq = items[-1]["seq"]

    async def deliver_frame(self, frame: str) -> None:
        await self.base_send({"type": "websocket.send", "text": frame})

    async def close_signed_out(self) -> None:
        """The session behind this socket ended: it stops posting as that user (the page reloads
        the socket as whoever the browser now is)."""
        self.scope["user"] = AnonymousUser()
        self.user_id = None
        await self.send_json(ChatterError(ErrorCode.AUTH_REQUIRED, "you signed out or your password changed; sign in again").as_frame())
        await self.close(code=CLOSE_SIGNED_OUT)

    async def close_banned(self, frame: dict[str, Any]) -> None:
        """Banned from this room: say so (with `until`) and close; the page does not reconnect."""
        until = frame.get("until")
        await self.send_json(ChatterError(ErrorCode.BANNED, "you are banned from this room's chat", extra={"until": until}).as_frame())
        await self.close(code=CLOSE_BANNED)


def _active_ban_frame(room_id: int, user_id: int) -> dict[str, Any] | None:
    sanction = sanction_active(room_id=room_id, user_id=user_id)
    if sanction is None or sanction.kind != RoomSanction.Kind.BAN:
        return None
    return {"until": sanction_error(sanction).extra.get("until")}


def _room_last_seq(room_id: int) -> int:
    return Room.objects.filter(pk=room_id).values_list("last_seq", flat=True).get()


def _messages_after_room(room_id: int, after_seq: int) -> list[dict[str, Any]]:
    room = Room.objects.get(pk=room_id)
    return messages_after(room=room, after_seq=after_seq, limit=settings.CHAT_HISTORY_PAGE)

