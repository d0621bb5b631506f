"""Room moderation (SPEC 11): who may moderate, the actions, sanctions on sending, reports.

Every action is one transaction that changes the room and writes its log row; on commit it is
broadcast to the room's viewers as a `moderation` frame and, for deletes, taken out of chat.firehose
(the personas' chat window). A deleted message stays as a tombstone (`Message.deleted_at`): its seq
keeps history gap-free, and `Message.objects` (what every other reader uses) no longer sees it.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from chat.events import firehose_forget, moderation_publish
from chat.models import Message, MessageReport, ModerationAction, Room, RoomSanction
from chat.schemas import (
    BanAction,
    ClearAction,
    DeleteAction,
    ModeAction,
    ReportRequest,
    TimeoutAction,
    moderation_request_adapter,
)
from chat.selectors import room_cache_forget, room_moderator_is
from chat.trends import EMOTE_SET
from chatter_site.lib.errors import ChatterError, ErrorCode, schema_validate

logger = logging.getLogger("chatter.moderation")


# --- reads --------------------------------------------------------------------------------------
def sanctions_active(*, room_id: int, user_ids: set[int], now: datetime | None = None) -> dict[int, RoomSanction]:
    """Per viewer, the sanction that refuses their sends now: a ban before a timeout, the longest
    first. One query for any number of viewers (the gateway checks a whole batch at once)."""
    now = now or timezone.now()
    rows = RoomSanction.objects.filter(room_id=room_id, user_id__in=user_ids, lifted_at__isnull=True).filter(
        Q(until__isnull=True) | Q(until__gt=now)
    )
    best: dict[int, tuple[tuple, RoomSanction]] = {}
    for row in rows:
        rank = (row.kind == RoomSanction.Kind.BAN, row.until is None, row.until or now)
        if row.user_id not in best or rank > best[row.user_id][0]:
            best[row.user_id] = (rank, row)
    return {user_id: row for user_id, (_, row) in best.items()}


def sanction_active(*, room_id: int, user_id: int, now: datetime | None = None) -> RoomSanction | None:
    return sanctions_active(room_id=room_id, user_ids={user_id}, now=now).get(user_id)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _remaining(until: datetime) -> str:
    seconds = max(1, int((until - timezone.now()).total_seconds() + 0.999))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def sanction_error(sanction: RoomSanction) -> ChatterError:
    """The refusal a sanctioned viewer gets: a readable detail, and `until` (ISO, or null: for good)."""
    until = _iso(sanction.until)
    if sanction.kind == RoomSanction.Kind.BAN:
        detail = "you are banned from this room's chat"
        if sanction.until is not None:
            detail += f" for another {_remaining(sanction.until)}"
        return ChatterError(ErrorCode.BANNED, detail, extra={"until": until})
    return ChatterError(
        ErrorCode.TIMED_OUT, f"you are timed out for another {_remaining(sanction.until)}", extra={"until": until}
    )


def sanction_enforce(*, room: Room, user_id: int) -> None:
    """Refuse a send from a timed-out or banned viewer (`timed_out` / `banned` with `until`)."""
    sanction = sanction_active(room_id=room.pk, user_id=user_id)
    if sanction is not None:
        raise sanction_error(sanction)


def draft_with_moderator_badge(draft):
    """The draft of a room moderator's message, wearing the moderator badge like staff do."""
    if "moderator" in draft.author.badges:
        return draft
    author = draft.author.model_copy(update={"badges": ["moderator", *draft.author.badges]})
    return draft.model_copy(update={"author": author})


def emote_only_enforce(*, room: Room, text: str) -> None:
    if room.emote_only and any(word not in EMOTE_SET for word in text.split()):
        raise ChatterError(ErrorCode.EMOTE_ONLY, "emote-only mode is on: only emotes can be sent")


def action_record(action: ModerationAction, *, room_slug: str) -> dict[str, Any]:
    """The answer of POST /api/rooms/<slug>/moderation."""
    return {
        "id": action.pk,
        "room": room_slug,
        "action": action.action,
        "by": action.actor_name,
        "user": action.target_name or None,
        "seqs": action.seqs,
        "seconds": action.seconds,
        "until": _iso(action.until),
        "mode": action.mode,
        "reason": action.reason,
        "created_at": _iso(action.created_at),
    }


def moderation_frame(action: ModerationAction) -> dict[str, Any]:
    """The `moderation` frame every viewer of the room gets (SPEC 4.3). A clear names the last seq it
    tombstoned (`upto`) instead of listing every seq."""
    frame: dict[str, Any] = {
        "type": "moderation",
        "action": action.action,
        "seqs": action.seqs if action.action == ModerationAction.Action.DELETE else [],
        "user": action.target_name or None,
        "until": _iso(action.until),
        "mode": action.mode,
        "by": action.actor_name,
        "at": _iso(action.created_at),
    }
    if action.action == ModerationAction.Action.CLEAR:
        frame["upto"] = action.seqs[-1] if action.seqs else 0
    if action.action == ModerationAction.Action.TIMEOUT:
        frame["seconds"] = action.seconds
    return frame


# --- writes -------------------------------------------------------------------------------------
def moderation_request_parse(data: Any) -> DeleteAction | TimeoutAction | BanAction | ClearAction | ModeAction:
    return schema_validate(moderation_request_adapter, data, root="body")


def moderation_apply(*, room: Room, actor, data: Any) -> ModerationAction:
    """Check the actor, parse the body and apply one action. ChatterError `forbidden` (before anything
    is parsed or written), `invalid` or `not_found` otherwise."""
    if not room_moderator_is(user=actor, room=room):
        raise ChatterError(ErrorCode.FORBIDDEN, "only this room's moderators can do that")
    request = moderation_request_parse(data)
    handlers: dict[type, Callable[..., ModerationAction]] = {
        DeleteAction: _delete,
        TimeoutAction: _timeout,
        BanAction: _ban_or_unban,
        ClearAction: _clear,
        ModeAction: _mode,
    }
    with transaction.atomic():
        action = handlers[type(request)](room=room, actor=actor, request=request)
    logger.info(
        "moderation room=%s action=%s by=%s target=%s seqs=%s", room.slug, action.action, action.actor_name,
        action.target_name, action.seqs[:10],
    )
    return action


def _log(*, room: Room, actor, action: str, reason: str, **fields: Any) -> ModerationAction:
    record = ModerationAction.objects.create(
        room=room, actor=actor, actor_name=actor.get_username(), action=action, reason=reason, **fields
    )
    close_user_id = record.target_id if action == ModerationAction.Action.BAN else None
    frame = moderation_frame(record)
    transaction.on_commit(lambda: moderation_publish(room_slug=room.slug, frame=frame, close_user_id=close_user_id))
    return record


def _forget_later(*, room_slug: str, seqs: set[int] | None = None, upto: int | None = None) -> None:
    def forget() -> None:
        try:
            firehose_forget(room_slug=room_slug, seqs=seqs, upto=upto)
        except Exception:
            logger.exception("firehose forget failed room=%s", room_slug)

    transaction.on_commit(forget)


def _resolve_reports(*, messages: Q, actor) -> None:
    MessageReport.objects.filter(messages, status=MessageReport.Status.OPEN).update(
        status=MessageReport.Status.RESOLVED, handled_by=actor, handled_at=timezone.now()
    )


def _delete(*, room: Room, actor, request: DeleteAction) -> ModerationAction:
    message = Message.all_objects.select_for_update().filter(room=room, seq=request.seq).first()
    if message is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no message {request.seq} in this room")
    if message.deleted_at is not None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"message {request.seq} is already deleted")
    message.deleted_at = timezone.now()
    message.save(update_fields=["deleted_at"])
    _resolve_reports(messages=Q(message=message), actor=actor)
    _forget_later(room_slug=room.slug, seqs={message.seq})
    target = message.user if message.origin == Message.Origin.HUMAN else None
    return _log(
        room=room, actor=actor, action=ModerationAction.Action.DELETE, reason=request.reason,
        seqs=[message.seq], target=target, target_name=message.author_name,
    )


def _target_user(*, room: Room, actor, name: str, verb: str):
    user = get_user_model().objects.filter(username=name).first()
    if user is None:
        user = get_user_model().objects.filter(username__iexact=name).first()
    if user is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no viewer named {name!r}")
    if user.pk == actor.pk:
        raise ChatterError(ErrorCode.INVALID, f"you cannot {verb} yourself")
    if verb != "unban" and room_moderator_is(user=user, room=room):
        raise ChatterError(ErrorCode.INVALID, f"{user.get_username()} moderates this room: you cannot {verb} them")
    return user


def _timeout(*, room: Room, actor, request: TimeoutAction) -> ModerationAction:
    user = _target_user(room=room, actor=actor, name=request.user, verb="time out")
    now = timezone.now()
    until = now + timedelta(seconds=request.seconds)
    RoomSanction.objects.create(
        room=room, user=user, kind=RoomSanction.Kind.TIMEOUT, until=until, reason=request.reason, created_by=actor,
        created_at=now,
    )
    return _log(
        room=room, actor=actor, action=ModerationAction.Action.TIMEOUT, reason=request.reason, target=user,
        target_name=user.get_username(), seconds=request.seconds, until=until,
    )


def _ban_or_unban(*, room: Room, actor, request: BanAction) -> ModerationAction:
    user = _target_user(room=room, actor=actor, name=request.user, verb=request.action)
    now = timezone.now()
    if request.action == "ban":
        RoomSanction.objects.create(
            room=room, user=user, kind=RoomSanction.Kind.BAN, until=None, reason=request.reason, created_by=actor,
            created_at=now,
        )
    else:
        lifted = (
            RoomSanction.objects.filter(room=room, user=user, lifted_at__isnull=True)
            .filter(Q(until__isnull=True) | Q(until__gt=now))
            .update(lifted_at=now)
        )
        if not lifted:
            raise ChatterError(ErrorCode.INVALID, f"{user.get_username()} is neither banned nor timed out here")
    return _log(
        room=room, actor=actor, action=request.action, reason=request.reason, target=user,
        target_name=user.get_username(),
    )


def _clear(*, room: Room, actor, request: ClearAction) -> ModerationAction:
    # "Every message so far" = up to the committed last_seq: the gateway commits a seq together with its
    # message, so all of them are stored. No room lock: sends go on while a long room is tombstoned.
    upto = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
    visible = Message.objects.filter(room=room, seq__lte=upto)
    first = visible.order_by("seq").values_list("seq", flat=True).first()
    visible.update(deleted_at=timezone.now())
    _resolve_reports(messages=Q(message__room=room, message__seq__lte=upto), actor=actor)
    _forget_later(room_slug=room.slug, upto=upto)
    return _log(
        room=room, actor=actor, action=ModerationAction.Action.CLEAR, reason=request.reason,
        seqs=[first, upto] if first is not None else [],
    )


def _mode(*, room: Room, actor, request: ModeAction) -> ModerationAction:
    if request.slow_seconds is None and request.emote_only is None:
        raise ChatterError(ErrorCode.INVALID, "mode needs slow_seconds or emote_only")
    locked = Room.objects.select_for_update().get(pk=room.pk)
    if request.slow_seconds is not None:
        locked.slow_mode_seconds = request.slow_seconds
    if request.emote_only is not None:
        locked.emote_only = request.emote_only
    locked.save(update_fields=["slow_mode_seconds", "emote_only"])
    room.slow_mode_seconds, room.emote_only = locked.slow_mode_seconds, locked.emote_only
    room_cache_forget(slug=room.slug)
    transaction.on_commit(lambda: room_cache_forget(slug=room.slug))  # a read in between cached the old modes
    return _log(
        room=room, actor=actor, action=ModerationAction.Action.MODE, reason=request.reason,
        mode={"slow_seconds": locked.slow_mode_seconds, "emote_only": locked.emote_only},
    )


def message_report(*, room: Room, reporter, data: Any) -> MessageReport:
    """A signed-in viewer reports a message; it waits in admin's report queue. Reporting the same
    message twice keeps one report."""
    if reporter is None or not reporter.is_authenticated:
        raise ChatterError(ErrorCode.AUTH_REQUIRED, "sign in to report a message")
    request = schema_validate(ReportRequest, data, root="body")
    message = Message.objects.filter(room=room, seq=request.seq).first()
    if message is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no message {request.seq} in this room")
    report, _ = MessageReport.objects.get_or_create(
        message=message, reporter=reporter, defaults={"room": room, "reason": request.reason, "note": request.note}
    )
    return report


def report_record(report: MessageReport) -> dict[str, Any]:
    return {
        "id": report.pk, "seq": report.message.seq, "reason": report.reason, "status": report.status,
        "created_at": _iso(report.created_at),
    }


def reports_of(*, room: Room, reporter) -> list[dict[str, Any]]:
    rows = MessageReport.objects.filter(room=room, reporter=reporter).select_related("message")[:200]
    return [report_record(row) for row in rows]
