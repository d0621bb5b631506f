"""People's sends, group-committed per room: the WebSocket path of chat.ingest.

How it works: docs/architecture.md, "Inside the parts" › chat/ingest.py."""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone
from psycopg import errors as psycopg_errors

from chat import metrics
from chat.events import messages_publish
from chat.models import Conversation, Message, Room, SafetyAction
from chat.moderation import (
    draft_with_moderator_badge,
    emote_only_enforce,
    sanction_error,
    sanctions_active,
)
from chat.ratelimit import sends_admit
from chat.safety import safety_check
from chat.schemas import MessageDraft, SendFrame
from chat.selectors import blocked_rules, message_payload, room_get_cached, room_moderator_ids
from chat.services import MENTION_RE, _conversation_for, _record_safety, _sql_time, human_draft, message_ingest
from chat.signin import sessions_still_valid
from chatter_site.lib.correlation import new_correlation_id
from chatter_site.lib.errors import ChatterError, ErrorCode

logger = logging.getLogger(__name__)

# A batch waits for nothing: it takes what queued while the previous one ran, up to this many.
MAX_BATCH = 500

Outcome = dict[str, Any] | ChatterError


@dataclass(frozen=True)
class SessionCheck:
    """A send that must first re-check the socket's session (see CHAT_WS_SESSION_RECHECK_SECONDS)."""

    session_key: str | None


class SessionEnded(ChatterError):
    """The socket's session was signed out or its password changed: the consumer closes it."""

    def __init__(self) -> None:
        super().__init__(ErrorCode.AUTH_REQUIRED, "you signed out or your password changed; sign in again")


@dataclass(eq=False)
class _Item:
    draft: MessageDraft
    user_id: int
    session: SessionCheck | None = None
    outcome: Outcome | None = None


# --- the batch, synchronous (runs on the ingest pool) ---------------------------------------------
def messages_ingest_human_batch(
    *, room_slug: str, drafts: list[MessageDraft], user_ids: list[int], sessions: list[SessionCheck | None] | None = None
) -> list[Outcome]:
    """Ingest people's sends to one room as one group commit. Per draft, in order: the stored
    message's payload (also for a client_id stored before) or the ChatterError that refused it
    (SessionEnded for a send whose session check failed). Raises DatabaseError / RedisError when
    a backing service fails: then nothing was stored."""
    started = time.perf_counter()
    sessions = sessions or [None] * len(drafts)
    items = [_Item(draft=draft, user_id=user_id, session=session) for draft, user_id, session in zip(drafts, user_ids, sessions)]
    room = room_get_cached(slug=room_slug)
    _refuse_inactive(items)
    _refuse_ended_sessions([item for item in items if item.outcome is None and item.session is not None])
    _answer_stored(room=room, items=[item for item in items if item.outcome is None])
    fresh = _first_per_client_id([item for item in items if item.outcome is None])
    _enforce_moderation(room=room, items=fresh)
    _refuse_unknown_replies(room=room, items=[item for item in fresh if item.outcome is None])
    _enforce_limits(room=room, items=[item for item in fresh if item.outcome is None])
    admitted = _safety_gate(room=room, items=[item for item in fresh if item.outcome is None])
    if admitted:
        try:
            _persist_batch(room=room, admitted=admitted)
        except IntegrityError:
            # A client_id stored by a batch of another room between our check and our insert: the
            # transaction rolled back whole (no seq spent), so go one message at a time.
            for item, _verdict in admitted:
                item.outcome = _persist_one(item)
    _copy_to_duplicates(items)
    elapsed = time.perf_counter() - started
    metrics.INGEST_BATCH_SIZE.observe(len(items))
    for item in items:
        metrics.INGEST_SECONDS.observe(elapsed)
        if isinstance(item.outcome, ChatterError):
            metrics.MESSAGES_REFUSED.labels(code=item.outcome.code).inc()
    stored = sum(1 for item, _ in admitted if not isinstance(item.outcome, ChatterError))
    metrics.MESSAGES_INGESTED.labels(origin=Message.Origin.HUMAN).inc(stored)
    return [item.outcome for item in items]  # type: ignore[misc]


def _refuse_inactive(items: list[_Item]) -> None:
    """Permissions are re-checked per send: a user deactivated mid-session stops posting."""
    active = set(
        get_user_model().objects.filter(pk__in={item.user_id for item in items}, is_active=True).values_list("pk", flat=True)
    )
    for item in items:
        if item.user_id not in active:
            item.outcome = ChatterError(ErrorCode.AUTH_REQUIRED, "your account is not active")


def _refuse_ended_sessions(items: list[_Item]) -> None:
    """The sockets due for a session re-check, all at once instead of one sync-thread call each."""
    if not items:
        return
    checks = [(item, item.session.session_key) for item in items if item.session is not None]
    valid = sessions_still_valid(pairs=[(item.user_id, key) for item, key in checks])
    for item, key in checks:
        if (item.user_id, key) not in valid:
            item.outcome = SessionEnded()


def _stored_for(items: list[_Item]) -> dict[tuple[str, str | None], Message]:
    """The messages already stored under these (author, client_id) pairs, tombstones included (a
    deleted message's resend is still that message). One narrow query for the common case of
    nothing stored; full rows only for what matched."""
    keys = {(item.draft.author_key, item.draft.client_id) for item in items}
    if not keys:
        return {}
    candidates = Message.all_objects.filter(
        author_key__in={author for author, _ in keys}, client_id__in={client_id for _, client_id in keys}
    ).values_list("pk", "author_key", "client_id")
    matched = [pk for pk, author_key, client_id in candidates if (author_key, client_id) in keys]
    if not matched:
        return {}
    rows = Message.all_objects.filter(pk__in=matched).select_related("room")
    return {(row.author_key, row.client_id): row for row in rows}


def _answer_stored(*, room: Room, items: list[_Item]) -> None:
    """The same client_id twice yields one message: a resend is answered with the stored one."""
    stored = _stored_for(items)
    for item in items:
        message = stored.get((item.draft.author_key, item.draft.client_id))
        if message is not None:
            item.outcome = message_payload(message, room_slug=message.room.slug)


def _first_per_client_id(items: list[_Item]) -> list[_Item]:
    """One item per (author, client_id) goes on; its copies get its outcome (_copy_to_duplicates)."""
    seen: set[tuple[str, str | None]] = set()
    first = []
    for item in items:
        key = (item.draft.author_key, item.draft.client_id)
        if key not in seen:
            seen.add(key)
            first.append(item)
    return first


def _copy_to_duplicates(items: list[_Item]) -> None:
    outcomes: dict[tuple[str, str | None], Outcome] = {}
    for item in items:
        if item.outcome is not None:
            outcomes.setdefault((item.draft.author_key, item.draft.client_id), item.outcome)
    for item in items:
        if item.outcome is None:
            item.outcome = outcomes[(item.draft.author_key, item.draft.client_id)]


def _enforce_moderation(*, room: Room, items: list[_Item]) -> None:
    """Timed-out and banned senders are refused (with `until`), one query for the batch; so are
    words in emote-only mode. Before the rate limit, so a refused send spends none of it. The room's
    moderators get their badge (one more query)."""
    if not items:
        return
    user_ids = {item.user_id for item in items}
    sanctions = sanctions_active(room_id=room.pk, user_ids=user_ids)
    moderators = room_moderator_ids(room_id=room.pk, user_ids=user_ids)
    for item in items:
        if item.user_id in moderators:
            item.draft = draft_with_moderator_badge(item.draft)
        sanction = sanctions.get(item.user_id)
        if sanction is not None:
            item.outcome = sanction_error(sanction)
            continue
        try:
            emote_only_enforce(room=room, text=item.draft.text)
        except ChatterError as error:
            item.outcome = error


def _refuse_unknown_replies(*, room: Room, items: list[_Item]) -> None:
    """A reply must answer a message of this room (one query for the batch, before any limit is spent)."""
    wanted = {item.draft.reply_to for item in items if item.draft.reply_to is not None}
    if not wanted:
        return
    present = set(Message.objects.filter(room=room, pk__in=wanted).values_list("pk", flat=True))
    for item in items:
        if item.draft.reply_to is not None and item.draft.reply_to not in present:
            item.outcome = ChatterError(ErrorCode.INVALID, "reply_to: no such message in this room")


def _enforce_limits(*, room: Room, items: list[_Item]) -> None:
    if not items:
        return
    verdicts = sends_admit(
        room_slug=room.slug,
        user_keys=[item.draft.author_key for item in items],
        limit=settings.CHAT_RATE_LIMIT_COUNT,
        window_seconds=settings.CHAT_RATE_LIMIT_WINDOW,
        slow_seconds=room.slow_mode_seconds or 0,
    )
    for item, (verdict, wait) in zip(items, verdicts):
        if verdict == "rate_limited":
            item.outcome = ChatterError(ErrorCode.RATE_LIMITED, f"slow down: try again in {wait:.1f}s")
        elif verdict == "slow_mode":
            item.outcome = ChatterError(ErrorCode.SLOW_MODE, f"slow mode is on: wait {wait:.0f}s between messages")


def _safety_gate(*, room: Room, items: list[_Item]) -> list[tuple[_Item, Any]]:
    admitted = []
    rules = blocked_rules()
    for item in items:
        verdict = safety_check(
            item.draft.text,
            origin=item.draft.origin,
            rules=rules,
            allowed_domains=settings.CHAT_ALLOWED_LINK_DOMAINS,
            max_length=settings.CHAT_MAX_MESSAGE_LENGTH,
        )
        if verdict.action == "drop":
            _record_safety(room=room, draft=item.draft, action=SafetyAction.Action.DROP, reasons=verdict.reasons)
            item.outcome = ChatterError(ErrorCode.BLOCKED, "message not sent: " + ", ".join(verdict.reasons))
            continue
        admitted.append((item, verdict))
    return admitted


def _persist_batch(*, room: Room, admitted: list[tuple[_Item, Any]]) -> None:
    """Store the batch with consecutive seqs, all or nothing. Rows and payloads are built outside
    the room lock; outcomes are set and the batch broadcast only once it is committed."""
    now = timezone.now()
    messages = [_message_row(room=room, item=item, verdict=verdict, now=now) for item, verdict in admitted]
    started = time.perf_counter()
    if connection.vendor != "postgresql" or not _insert_in_one_statement(room_id=room.pk, messages=messages, now=now):
        _insert_in_a_transaction(room_id=room.pk, messages=messages, now=now)
    metrics.INGEST_LOCK_SECONDS.observe(time.perf_counter() - started)
    payloads = [message_payload(message, room_slug=room.slug) for message in messages]
    for (item, _verdict), payload in zip(admitted, payloads):
        item.outcome = payload
    try:
        corr = {message.seq: message.correlation_id for message in messages}
        messages_publish(room_slug=room.slug, messages=payloads, correlation_ids=corr)
    except Exception:  # stored is stored: a subscriber's failure must not read as "not sent"
        logger.exception("publishing a group commit failed room=%s", room.slug)
    for (item, verdict), message in zip(admitted, messages):
        if verdict.action == "sanitise":
            _record_safety(room=room, draft=item.draft, action=SafetyAction.Action.SANITISE, reasons=verdict.reasons,
                           message=message)


def _insert_in_one_statement(*, room_id: int, messages: list[Message], now) -> bool:
    """PostgreSQL: take the seqs (the room row lock), extend the open conversation and insert every
    row in ONE autocommitted statement, so the room lock is held for the statement's execution
    inside PostgreSQL and never across a round trip to a Daphne that may be busy writing frames
    (where each round trip also waits for the event loop to hand the GIL back). All or nothing, as
    any statement. False when the room has no open, recent conversation: the NOT NULL conversation
    rejected the statement, and the batch goes through _insert_in_a_transaction, which opens one.
    Raises IntegrityError for a client_id stored meanwhile."""
    count = len(messages)
    fields = Message._meta.concrete_fields
    rows, params = [], []
    for n, message in enumerate(messages):
        values = []
        for field in fields:
            if field.attname == "seq":
                values.append("(SELECT last_seq FROM room) - %s")
                params.append(count - 1 - n)
            elif field.attname == "conversation_id":
                values.append("(SELECT id FROM conversation)")
            else:
                values.append("%s")
                params.append(field.get_db_prep_save(field.pre_save(message, True), connection=connection))
        rows.append(f"({', '.join(values)})")
    cutoff = now - timezone.timedelta(minutes=settings.CHAT_CONVERSATION_IDLE_MINUTES)
    quote = connection.ops.quote_name
    sql = (
        f"WITH room AS (UPDATE {quote(Room._meta.db_table)} SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq), "
        f"conversation AS (UPDATE {quote(Conversation._meta.db_table)} SET last_message_at = %s, "
        f"last_seq = (SELECT last_seq FROM room), message_count = message_count + %s "
        f"WHERE room_id = %s AND ended_at IS NULL AND last_message_at >= %s RETURNING id) "
        f"INSERT INTO {quote(Message._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES {', '.join(rows)} RETURNING id, seq, conversation_id"
    )
    head = [count, room_id, _sql_time(now), count, room_id, _sql_time(cutoff)]
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, head + params)
            stored = {row[0]: (row[1], row[2]) for row in cursor.fetchall()}
    except IntegrityError as error:
        if isinstance(error.__cause__, psycopg_errors.NotNullViolation):
            return False
        raise
    for message in messages:
        message.seq, message.conversation_id = stored[message.id]
    return True


def _insert_in_a_transaction(*, room_id: int, messages: list[Message], now) -> None:
    """Any database, and the batch that opens a conversation: the room row locked by taking the
    seqs, the conversation extended or opened, the rows inserted, COMMIT."""
    count = len(messages)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Room._meta.db_table} SET last_seq = last_seq + %s WHERE id = %s RETURNING last_seq",
                [count, room_id],
            )
            last_seq = cursor.fetchone()[0]
        conversation_id = _conversation_for(room_id=room_id, seq=last_seq, now=now, count=count)
        for n, message in enumerate(messages):
            message.seq = last_seq - count + 1 + n
            message.conversation_id = conversation_id
        Message.objects.bulk_create(messages)


def _message_row(*, room: Room, item: _Item, verdict, now) -> Message:
    """A message row without its seq and conversation (they are taken under the room lock)."""
    draft = item.draft
    return Message(
        room_id=room.pk,
        origin=draft.origin,
        author_key=draft.author_key,
        author_name=draft.author.name,
        author_color=draft.author.color,
        author_badges=list(draft.author.badges),
        user_id=item.user_id,
        text=verdict.text,
        created_at=now,
        mentions=sorted(set(MENTION_RE.findall(verdict.text))),
        flags=list(verdict.flags),
        reply_to=draft.reply_to,
        client_id=draft.client_id,
        correlation_id=draft.correlation_id or new_correlation_id(),  # each message starts its own trail
    )


def _persist_one(item: _Item) -> Outcome:
    """The one-message gateway, limits already spent by the batch (its IntegrityError handling
    answers a client_id stored meanwhile with the stored message)."""
    try:
        user = get_user_model().objects.get(pk=item.user_id)
        message = message_ingest(draft=item.draft, user=user, enforce_limits=False)
    except ChatterError as error:
        return error
    return message_payload(message, room_slug=item.draft.room)


def _run_batch(room_slug: str, drafts: list[MessageDraft], user_ids: list[int], sessions: list[SessionCheck | None]) -> list[Outcome]:
    # What database_sync_to_async does around each call: drop a connection that broke or aged out
    # (health-checked before reuse), so the first batch after a PostgreSQL restart reconnects.
    close_old_connections()
    try:
        return messages_ingest_human_batch(room_slug=room_slug, drafts=drafts, user_ids=user_ids, sessions=sessions)
    finally:
        close_old_connections()


# --- the queue, asynchronous (runs on Daphne's event loop) ----------------------------------------
_executor: ThreadPoolExecutor | None = None


def _ingest_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=settings.CHAT_INGEST_THREADS, thread_name_prefix="chat-ingest")
    return _executor


@dataclass(eq=False)
class _Waiting:
    draft: MessageDraft
    user_id: int
    session: SessionCheck | None
    future: asyncio.Future


class IngestQueue:
    """Per process and event loop: each room's queued sends and whether its batch is running."""

    def __init__(self) -> None:
        self.queued: dict[str, list[_Waiting]] = {}
        self.running: set[str] = set()

    async def send(self, *, user, room_slug: str, frame: SendFrame, session: SessionCheck | None = None) -> dict[str, Any]:
        """Queue one person's send and wait for its batch: the stored message's payload, or raises
        ChatterError (refused; SessionEnded when `session` was given and has ended) / DatabaseError
        / RedisError (nothing stored)."""
        draft = human_draft(user=user, room_slug=room_slug, text=frame.text, client_id=frame.client_id, reply_to=frame.reply_to)
        loop = asyncio.get_running_loop()
        waiting = _Waiting(draft=draft, user_id=user.pk, session=session, future=loop.create_future())
        self.queued.setdefault(room_slug, []).append(waiting)
        if room_slug not in self.running:
            self.running.add(room_slug)
            loop.create_task(self._drain(room_slug), name=f"ingest-{room_slug}")
        outcome = await waiting.future
        if isinstance(outcome, ChatterError):
            raise outcome
        return outcome

    async def _drain(self, room_slug: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                queue = self.queued.pop(room_slug, None)
                if not queue:
                    return
                batch = queue[:MAX_BATCH]
                if len(queue) > MAX_BATCH:
                    self.queued[room_slug] = queue[MAX_BATCH:]
                try:
                    outcomes = await loop.run_in_executor(
                        _ingest_executor(), _run_batch, room_slug,
                        [w.draft for w in batch], [w.user_id for w in batch], [w.session for w in batch],
                    )
                except Exception as exc:  # a backing service failed: every send of the batch is refused
                    for waiting in batch:
                        if not waiting.future.done():
                            waiting.future.set_exception(exc)
                    continue
                for waiting, outcome in zip(batch, outcomes):
                    if not waiting.future.done():
                        waiting.future.set_result(outcome)
        finally:
            self.running.discard(room_slug)


_queues: dict[int, IngestQueue] = {}


def ingest_queue() -> IngestQueue:
    """The queue of this process's running event loop (Daphne runs one; tests start several)."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(id(loop))
    if queue is None or getattr(queue, "_loop", None) is not loop:
        queue = _queues[id(loop)] = IngestQueue()
        queue._loop = loop  # type: ignore[attr-defined]
    return queue
