"""Record a room's chat.firehose to JSONL and replay such a file into a room (debugging and load).

How it works: docs/architecture.md, "Inside the parts" › chat/replay.py."""
from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db import DatabaseError, IntegrityError, transaction
from pydantic import ValidationError

from chat.events import firehose_key
from chat.models import Message, Room
from chat.schemas import ChatMessage
from chat.selectors import messages_after, room_get
from chat.services import draft_parse, message_ingest
from chatter_site.lib.correlation import new_correlation_id
from chatter_site.lib.errors import ChatterError, ErrorCode, validation_summary
from chatter_site.lib.redis import redis_client

logger = logging.getLogger(__name__)

MAX_ERRORS_SHOWN = 20
REPLAY_BADGE = "replay"
REPLAY_USER_PREFIX = "replay_"
MAX_BADGES = 8
_USERNAME_UNSAFE = re.compile(r"[^\w.@+-]")
_EXISTING_CHUNK = 1000


# --- the file ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordedLine:
    line_no: int
    message: ChatMessage


@dataclass(frozen=True)
class ReplayFile:
    name: str
    lines: list[RecordedLine]
    duplicate_lines: int  # lines repeating the id of an earlier line (replayed once)


def replay_file_parse(*, lines: Iterable[str], name: str) -> ReplayFile:
    """Validate every line; raise ChatterError(ErrorCode.INVALID) naming each bad line, or return them all."""
    parsed: list[RecordedLine] = []
    errors: list[str] = []
    error_count = 0
    seen: set[UUID] = set()
    duplicates = 0
    for line_no, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            message = ChatMessage.model_validate(json.loads(raw))
        except json.JSONDecodeError as exc:
            error_count += 1
            if len(errors) < MAX_ERRORS_SHOWN:
                errors.append(f"line {line_no}: not JSON ({exc.msg} at column {exc.colno})")
            continue
        except ValidationError as exc:
            error_count += 1
            if len(errors) < MAX_ERRORS_SHOWN:
                more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
                errors.append(f"line {line_no}: not a ChatMessage: {validation_summary(exc, root='message')}{more}")
            continue
        if message.id in seen:
            duplicates += 1
            continue
        seen.add(message.id)
        parsed.append(RecordedLine(line_no=line_no, message=message))
    if error_count:
        hidden = f"\n… and {error_count - len(errors)} more bad lines" if error_count > len(errors) else ""
        raise ChatterError(ErrorCode.INVALID, f"{name}: {error_count} bad line(s):\n" + "\n".join(errors) + hidden)
    return ReplayFile(name=name, lines=parsed, duplicate_lines=duplicates)


def replay_file_load(*, path: str, stdin: IO[str] | None = None) -> ReplayFile:
    if path == "-":
        if stdin is None:
            raise ChatterError(ErrorCode.INVALID, "no standard input to read")
        return replay_file_parse(lines=stdin, name="<stdin>")
    try:
        with open(path, encoding="utf-8") as handle:
            return replay_file_parse(lines=handle, name=path)
    except OSError as exc:
        raise ChatterError(ErrorCode.NOT_FOUND, f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ChatterError(ErrorCode.INVALID, f"{path} is not UTF-8 text (byte {exc.start})") from None


# --- the plan (reads only) -----------------------------------------------------------------------
def replay_schedule(*, messages: list[ChatMessage], speed: float | None, max_gap: float) -> list[float]:
    """Seconds after the start at which each message is due. Recorded gaps / speed, each gap capped
    at max_gap replay seconds; clock steps backwards count as no gap; speed None = all at once."""
    if speed is None:
        return [0.0] * len(messages)
    offsets: list[float] = []
    offset = 0.0
    previous = None
    for message in messages:
        if previous is not None:
            gap = max(0.0, (message.created_at - previous).total_seconds()) / speed
            offset += min(gap, max_gap)
        offsets.append(offset)
        previous = message.created_at
    return offsets


def replay_client_id(*, room_slug: str, message_id: UUID, run_tag: str) -> str:
    digest = hashlib.sha256(f"{room_slug}|{message_id}|{run_tag}".encode()).hexdigest()[:40]
    return f"replay-{digest}"


@dataclass(frozen=True)
class ReplayItem:
    line_no: int
    message: ChatMessage
    client_id: str
    due: float  # seconds after the start
    existing_id: UUID | None  # already replayed into the room (this run tag)


@dataclass(frozen=True)
class ReplayPlan:
    room: Room
    file: ReplayFile
    items: list[ReplayItem]
    run_tag: str
    speed: float | None

    @property
    def already_there(self) -> int:
        return sum(1 for item in self.items if item.existing_id is not None)

    @property
    def origins(self) -> Counter[str]:
        return Counter(item.message.origin for item in self.items)

    @property
    def duration(self) -> float:
        return self.items[-1].due if self.items else 0.0


def replay_plan(
    *, file: ReplayFile, room_slug: str, speed: float | None, max_gap: float, limit: int | None, run_tag: str
) -> ReplayPlan:
    """What a replay would send, and what is already in the room. Writes nothing."""
    if speed is not None and speed <= 0:
        raise ChatterError(ErrorCode.INVALID, "speed must be positive")
    if max_gap < 0:
        raise ChatterError(ErrorCode.INVALID, "max gap must not be negative")
    room = room_get(slug=room_slug)
    lines = file.lines[:limit] if limit is not None else file.lines
    schedule = replay_schedule(messages=[line.message for line in lines], speed=speed, max_gap=max_gap)
    client_ids = [replay_client_id(room_slug=room.slug, message_id=line.message.id, run_tag=run_tag) for line in lines]
    existing = _existing_by_client_id(room=room, client_ids=client_ids)
    items = [
        ReplayItem(line_no=line.line_no, message=line.message, client_id=client_id, due=due, existing_id=existing.get(client_id))
        for line, client_id, due in zip(lines, client_ids, schedule)
    ]
    return ReplayPlan(room=room, file=file, items=items, run_tag=run_tag, speed=speed)


def _existing_by_client_id(*, room: Room, client_ids: list[str]) -> dict[str, UUID]:
    found: dict[str, UUID] = {}
    for start in range(0, len(client_ids), _EXISTING_CHUNK):
        chunk = client_ids[start : start + _EXISTING_CHUNK]
        found.update(Message.objects.filter(room=room, client_id__in=chunk).values_list("client_id", "id"))
    return found


# --- the run -------------------------------------------------------------------------------------
@dataclass
class ReplayProgress:
    total: int
    sent: int = 0
    already_there: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    refusal_examples: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    lag: float = 0.0  # how late the last message went out, against its schedule
    max_lag: float = 0.0
    interrupted: bool = False
    first_seq: int | None = None
    last_seq: int | None = None

    @property
    def done(self) -> int:
        return self.sent + self.already_there + sum(self.refused.values())

    @property
    def rate(self) -> float:
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


class _Authors:
    """Turns a recorded author into the draft's author fields, creating replay users on first use."""

    def __init__(self) -> None:
        self._users: dict[str, Any] = {}

    def draft_fields(self, message: ChatMessage) -> tuple[dict[str, Any], Any]:
        badges = [badge for badge in message.author.badges if badge != REPLAY_BADGE][: MAX_BADGES - 1] + [REPLAY_BADGE]
        if message.origin == "human":
            user = self._user(message.author.name)
            name, author_key = user.get_username()[:100], f"user:{user.pk}"
        else:
            user, name, author_key = None, message.author.name, f"{message.origin}:{message.author.name}"
        author = {"name": name, "color": message.author.color, "badges": badges}
        return {"author": author, "author_key": author_key[:100]}, user

    def _user(self, name: str):
        user = self._users.get(name)
        if user is None:
            user = replay_user_get_or_create(name=name)
            self._users[name] = user
        return user


def replay_username(*, name: str) -> str:
    return (REPLAY_USER_PREFIX + _USERNAME_UNSAFE.sub("_", name))[:100]


REPLAY_USER_MARK = "(replay user)"
REPLAY_USER_TRIES = 20


def replay_user_is_marked(user) -> bool:
    """One of replay's own stand-ins, never a person's account (sign-up reserves the prefix, but an
    account made before that, or by staff, may hold a `replay_` name)."""
    return not user.is_active and not user.has_usable_password() and user.last_name == REPLAY_USER_MARK


def replay_user_get_or_create(*, name: str):
    """The marked stand-in for a recorded human: `replay_<name>`, inactive, no usable password.

    A real account already holding that name is never posted as: the stand-in takes the next free
    `replay_<name>+N` instead, so replayed lines are never attributed to a person."""
    User = get_user_model()
    base = replay_username(name=name)
    for attempt in range(REPLAY_USER_TRIES):
        username = base if attempt == 0 else f"{base[:95]}+{attempt}"
        user = User.objects.filter(username=username).first()
        if user is not None:
            if replay_user_is_marked(user):
                return user
            logger.warning("replay: %s is a real account; posting as another stand-in", username)
            continue
        user = User(username=username, is_active=False, last_name=REPLAY_USER_MARK)
        user.set_unusable_password()
        try:
            with transaction.atomic():
                user.save()
        except IntegrityError:  # created meanwhile by a concurrent replay (or someone else)
            user = User.objects.get(username=username)
            if replay_user_is_marked(user):
                return user
            continue
        return user
    raise ChatterError(ErrorCode.INVALID, f"no free replay stand-in name for {name!r}")


def replay_run(
    *,
    plan: ReplayPlan,
    stop: threading.Event | None = None,
    on_progress: Callable[[ReplayProgress], None] | None = None,
    progress_every: int = 100,
    progress_seconds: float = 5.0,
    enforce_limits: bool = False,
    clock: Callable[[], float] = time.monotonic,
    wait: Callable[[float], bool] | None = None,
) -> ReplayProgress:
    """Send the plan's messages on schedule through the gateway. `wait(seconds)` returns True when
    the replay must stop (default: the stop event); `stop` is checked before each message, so an
    interrupted replay never leaves a message half-sent."""
    stop = stop or threading.Event()
    wait = wait or stop.wait
    progress = ReplayProgress(total=len(plan.items))
    authors = _Authors()
    replayed_ids: dict[UUID, UUID] = {item.message.id: item.existing_id for item in plan.items if item.existing_id}
    started = clock()
    anchor = started  # the moment schedule offset 0 maps to; moves when a message costs no time
    last_report_at, last_report_done = started, 0

    for item in plan.items:
        if stop.is_set():
            progress.interrupted = True
            break
        if item.existing_id is not None:
            progress.already_there += 1
            anchor -= max(0.0, anchor + item.due - clock())  # skipped: its slot is now, not later
        else:
            delay = anchor + item.due - clock()
            if delay > 0 and wait(delay):
                progress.interrupted = True
                break
            progress.lag = max(0.0, clock() - (anchor + item.due))
            progress.max_lag = max(progress.max_lag, progress.lag)
            _send(item=item, plan=plan, authors=authors, replayed_ids=replayed_ids, progress=progress, enforce_limits=enforce_limits)
        now = clock()
        progress.elapsed = now - started
        if on_progress and (progress.done - last_report_done >= progress_every or now - last_report_at >= progress_seconds):
            on_progress(progress)
            last_report_at, last_report_done = now, progress.done
    progress.elapsed = clock() - started
    return progress


def _send(
    *, item: ReplayItem, plan: ReplayPlan, authors: _Authors, replayed_ids: dict[UUID, UUID], progress: ReplayProgress, enforce_limits: bool
) -> None:
    message = item.message
    try:
        author_fields, user = authors.draft_fields(message)
        reply_to = replayed_ids.get(message.reply_to) if message.reply_to else None
        draft = draft_parse(
            {
                "room": plan.room.slug,
                "origin": message.origin,
                **author_fields,
                "text": message.text,
                "reply_to": reply_to,
                "client_id": item.client_id,
                "correlation_id": new_correlation_id(),
            }
        )
        persisted = message_ingest(draft=draft, user=user, enforce_limits=enforce_limits)
    except ChatterError as error:
        progress.refused[error.code.value] += 1
        if len(progress.refusal_examples) < 5:
            progress.refusal_examples.append(f"line {item.line_no}: {error.code}: {error.message}")
        return
    except DatabaseError as error:
        raise ChatterError(
            ErrorCode.UNAVAILABLE,
            f"line {item.line_no}: the database failed ({error.__class__.__name__}: {error}); "
            f"{progress.sent} sent before it. Run again with the same run tag to send the rest.",
        ) from None
    replayed_ids[message.id] = persisted.id
    progress.sent += 1
    progress.first_seq = progress.first_seq or persisted.seq
    progress.last_seq = persisted.seq


# --- recording -----------------------------------------------------------------------------------
@dataclass
class RecordResult:
    written: int = 0
    skipped: int = 0  # entries that are not a valid ChatMessage (a schema change, a foreign writer)
    last_seq: int | None = None
    stopped_by: str = "end"


def firehose_record(
    *,
    room_slug: str,
    out: IO[str],
    follow: bool = False,
    limit: int | None = None,
    max_seconds: float | None = None,
    stop: threading.Event | None = None,
    on_progress: Callable[[RecordResult], None] | None = None,
    block_ms: int = 1000,
) -> RecordResult:
    """Write the room's firehose stream (what Redis still holds: CHATTER_FIREHOSE_MAXLEN entries)
    as JSONL, oldest first; with follow, keep appending new messages until stopped."""
    room = room_get(slug=room_slug)
    stop = stop or threading.Event()
    result = RecordResult()
    deadline = time.monotonic() + max_seconds if max_seconds is not None else None
    client = redis_client()
    key = firehose_key(room.slug)
    last_id = "-"

    def write(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> bool:
        nonlocal last_id
        for entry_id, fields in entries:
            last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            payload = _entry_payload(fields)
            if payload is None:
                result.skipped += 1
                continue
            out.write(json.dumps(payload, ensure_ascii=False) + "\n")
            result.written += 1
            result.last_seq = payload["seq"]
            if limit is not None and result.written >= limit:
                result.stopped_by = "limit"
                return False
        out.flush()
        if on_progress:
            on_progress(result)
        return True

    try:
        while not stop.is_set():
            start = "-" if last_id == "-" else f"({last_id}"
            page = client.xrange(key, min=start, max="+", count=500)
            if not page or not write(page):
                break
        if result.stopped_by == "limit" or not follow:
            return result
        if last_id == "-":
            last_id = "0-0"
        while not stop.is_set():
            if deadline is not None and time.monotonic() >= deadline:
                result.stopped_by = "max_seconds"
                return result
            answer = client.xread({key: last_id}, count=500, block=block_ms)
            for _, entries in answer or ():
                if not write(entries):
                    return result
        result.stopped_by = "interrupted"
        return result
    except ChatterError:
        raise
    except Exception as exc:  # redis-py errors: a clear message, not a traceback
        if exc.__class__.__module__.startswith("redis"):
            raise ChatterError(ErrorCode.UNAVAILABLE, f"Redis failed while recording ({exc}); {result.written} written") from None
        raise
    finally:
        out.flush()


def _entry_payload(fields: dict[bytes, bytes]) -> dict[str, Any] | None:
    raw = fields.get(b"m") or fields.get("m")  # type: ignore[call-overload]
    if raw is None:
        return None
    try:
        return ChatMessage.model_validate_json(raw).model_dump(mode="json")
    except ValidationError:
        return None


def room_history_record(*, room_slug: str, out: IO[str], after_seq: int = 0, limit: int | None = None) -> RecordResult:
    """The same JSONL from the database: every persisted message after a seq (the firehose stream
    is capped and lives in Redis; the table has everything)."""
    room = room_get(slug=room_slug)
    result = RecordResult()
    for payload in _history(room=room, after_seq=after_seq, limit=limit):
        out.write(json.dumps(payload, ensure_ascii=False) + "\n")
        result.written += 1
        result.last_seq = payload["seq"]
    out.flush()
    result.stopped_by = "limit" if limit is not None and result.written >= limit else "end"
    return result


def _history(*, room: Room, after_seq: int, limit: int | None) -> Iterator[dict[str, Any]]:
    remaining = limit
    while remaining is None or remaining > 0:
        page_size = 1000 if remaining is None else min(1000, remaining)
        page = messages_after(room=room, after_seq=after_seq, limit=page_size)
        if not page:
            return
        yield from (item for item in page if not item.get("deleted"))  # a recording never keeps deleted lines
        after_seq = page[-1]["seq"]
        if remaining is not None:
            remaining -= len(page)
