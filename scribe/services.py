"""Writes for the scribe: start, stop/restart, the update, manual edits and restores (SPEC 7).

The update, in order (document_update_run → _update_step):
1. take the document's lock (scribe.coordination); if another update holds it, leave the dirty flag
   for it and return: updates of one document never overlap and no trigger is lost;
2. read the turns after the cursor (at most SCRIBE_BATCH_MAX_TURNS: a burst becomes one update);
3. ask the LLM for the complete updated document and check the answer (scribe.prompts.answer_check):
   a refused answer keeps the previous version, is recorded on the document, and is retried;
4. store the new version FIRST (a content-addressed key), then in one transaction advance version and
   cursor with a conditional UPDATE (WHERE version = old AND cursor = old AND enabled) and add the
   revision. A redo after a worker died mid-update, or a stale concurrent one, matches no row and
   changes nothing: every turn is folded in exactly once;
5. push the new version to the page's viewers on commit; loop while turns remain.
"""
from __future__ import annotations

import logging
import re
import secrets
import time
import unicodedata
from dataclasses import dataclass, field, replace
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from chat.models import Conversation, Message, Room
from chat.selectors import blocked_rules
from chatter_site.lib.correlation import current_correlation_id, new_correlation_id
from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.llm import llm_answer_refused, llm_chat_answer
from scribe import coordination, metrics
from scribe.enqueue import scribe_update_enqueue
from scribe.events import document_publish
from scribe.gate import document_gate
from scribe.models import ScribeDocument, ScribeRevision
from scribe.prompts import answer_check, initial_content, normalise, update_messages
from scribe.selectors import (
    document_payload,
    documents_behind,
    enabled_documents_by_room,
    revision_content,
    revision_get,
)
from scribe.storage import StorageUnavailable, version_delete, version_write

logger = logging.getLogger("chatter.scribe")

TITLE_MAX = 120
RESERVED_SLUGS = frozenset({"start"})
MAX_CONFLICTS_PER_RUN = 5
LLM_TEMPERATURE = 0.4


class ScribeTransientError(ChatterError):
    """An update failed for a reason that may pass (LLM, storage, a refused answer): retry it."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


# --- start, stop, restart ---------------------------------------------------------------------------
def _clean_title(title: str) -> str:
    # One line, no control characters, no leading "#": it becomes the document's header line.
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in str(title or ""))
    text = re.sub(r"\s+", " ", text).strip().lstrip("#").strip()
    if not text:
        raise ChatterError(ErrorCode.INVALID, "title: give the document a title")
    if len(text) > TITLE_MAX:
        raise ChatterError(ErrorCode.INVALID, f"title: at most {TITLE_MAX} characters")
    return text


def _new_slug(title: str) -> str:
    base = slugify(title)[:60].strip("-") or "scribe"
    if base.isdigit() or base in RESERVED_SLUGS:
        base = f"scribe-{base}"
    if not ScribeDocument.objects.filter(slug=base).exists():
        return base
    return f"{base}-{secrets.token_hex(3)}"


def document_start(*, room_slug: str, title: str, style: str, user=None) -> ScribeDocument:
    """Start a scribe on a room: version 1 (header + placeholder) is stored, and it follows from now."""
    room = Room.objects.filter(slug=room_slug).first()
    if room is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"unknown room {room_slug!r}")
    title = _clean_title(title)
    if style not in ScribeDocument.Style.values:
        raise ChatterError(ErrorCode.INVALID, f"style: one of {', '.join(ScribeDocument.Style.values)}")
    content = initial_content(title=title)
    correlation_id = current_correlation_id() or new_correlation_id()
    for _attempt in range(3):
        slug = _new_slug(title)
        key, sha256 = version_write(slug=slug, version=1, content=content)
        try:
            with transaction.atomic():
                last_seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
                conversation_id = (
                    Conversation.objects.filter(room=room, ended_at__isnull=True).values_list("pk", flat=True).first()
                )
                document = ScribeDocument.objects.create(
                    title=title,
                    slug=slug,
                    room=room,
                    conversation_id=conversation_id,
                    style=style,
                    enabled=True,
                    cursor_seq=last_seq,
                    version=1,
                    content=content,
                    created_by=user if getattr(user, "pk", None) else None,
                )
                ScribeRevision.objects.create(
                    document=document,
                    version=1,
                    kind=ScribeRevision.Kind.START,
                    storage_key=key,
                    sha256=sha256,
                    size=len(content.encode()),
                    correlation_id=correlation_id,
                    created_by=document.created_by,
                )
                transaction.on_commit(partial(_after_change, document.pk, enqueue=True))
        except IntegrityError:
            continue  # another start took the slug between the check and the insert
        logger.info("scribe started document=%s room=%s style=%s cursor=%s", document.pk, room.slug, style, last_seq)
        return document
    raise ChatterError(ErrorCode.UNAVAILABLE, "could not pick a unique slug; try another title")


def document_toggle(*, document_id: int, enabled: bool, catch_up: bool = True, user=None) -> ScribeDocument:
    """Stop or restart. A restart with catch_up folds in every turn it missed; without, it starts from now."""
    with transaction.atomic():
        document = ScribeDocument.objects.select_for_update().select_related("room").filter(pk=document_id).first()
        if document is None:
            raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {document_id}")
        if document.enabled == enabled:
            return document
        fields = ["enabled"]
        document.enabled = enabled
        if enabled and not catch_up:
            last_seq = Room.objects.filter(pk=document.room_id).values_list("last_seq", flat=True).get()
            if last_seq > document.cursor_seq:
                logger.info("scribe restart skips turns document=%s seq=%s..%s", document.pk, document.cursor_seq + 1, last_seq)
                document.cursor_seq = last_seq
                fields.append("cursor_seq")
        if not enabled and document.status == ScribeDocument.Status.UPDATING:
            document.status = ScribeDocument.Status.IDLE
            fields.append("status")
        document.save(update_fields=fields)
        transaction.on_commit(partial(_after_change, document.pk, enqueue=enabled))
    logger.info("scribe %s document=%s by=%s", "started" if enabled else "stopped", document.pk, getattr(user, "pk", None))
    return document


def _after_change(document_id: int, *, enqueue: bool) -> None:
    """On commit of a start/stop: the trigger index, the viewers, and a catch-up update."""
    document = ScribeDocument.objects.select_related("room").filter(pk=document_id).first()
    if document is None:
        return
    try:
        coordination.enabled_index_set(room_slug=document.room.slug, document_id=document.pk, enabled=document.enabled)
    except Exception:
        logger.exception("scribe index update failed document=%s (the sweep repairs it)", document_id)
    document_publish(document=document_payload(document))
    if enqueue and document.enabled:
        document_trigger(document_ids=[document.pk], force=True)


def document_forget(*, document_id: int, room_slug: str) -> None:
    """After a delete (admin): the trigger index must not keep the id."""
    coordination.enabled_index_set(room_slug=room_slug, document_id=document_id, enabled=False)


# --- triggers -----------------------------------------------------------------------------------------
def document_trigger(*, document_ids: list[int], correlation_id: str | None = None, force: bool = False) -> int:
    """Enqueue an update for each document that has none waiting; returns how many were enqueued.

    `force` enqueues even where a waiting update is recorded: that record may belong to a task a dead
    worker had reserved (it comes back only after the broker's visibility timeout)."""
    claimed = coordination.queued_claim(document_ids=document_ids)
    enqueued = 0
    for document_id in document_ids if force else claimed:
        try:
            scribe_update_enqueue(document_id=document_id, correlation_id=correlation_id, force=force)
            enqueued += 1
        except Exception:
            coordination.queued_clear(document_id=document_id)  # let the next message try again
            raise
    metrics.TRIGGERS.labels(outcome="enqueued").inc(enqueued)
    metrics.TRIGGERS.labels(outcome="coalesced").inc(len(document_ids) - enqueued)
    return enqueued


def room_messages_trigger(*, room_slug: str) -> int:
    """chat's message_persisted, for one room: no SQL unless the trigger index is missing."""
    document_ids = coordination.enabled_index_read(room_slug=room_slug)
    if document_ids is None:
        document_ids = scribe_index_rebuild().get(room_slug, [])
    if not document_ids:
        return 0
    return document_trigger(document_ids=document_ids, correlation_id=current_correlation_id())


def scribe_index_rebuild() -> dict[str, list[int]]:
    by_room = enabled_documents_by_room()
    coordination.enabled_index_replace(by_room=by_room)
    return by_room


def scribe_sweep() -> int:
    """Safety net (beat, and each worker start): repair the index, update every document left behind
    (a trigger lost with Redis, a worker killed mid-update whose task waits for the visibility timeout)."""
    scribe_index_rebuild()
    return document_trigger(document_ids=documents_behind(), force=True)


# --- the update ---------------------------------------------------------------------------------------
@dataclass
class StepReport:
    outcome: str  # applied | nothing | conflict | stopped | gone
    version: int | None = None
    turns: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    llm_seconds: float = 0.0
    total_seconds: float = 0.0

    @property
    def overhead_seconds(self) -> float:
        return self.total_seconds - self.llm_seconds


@dataclass
class UpdateReport:
    outcome: str  # done | busy
    steps: list[StepReport] = field(default_factory=list)

    @property
    def applied(self) -> list[StepReport]:
        return [step for step in self.steps if step.outcome == "applied"]


def document_update_run(*, document_id: int, correlation_id: str | None = None, force: bool = False) -> UpdateReport:
    """Fold every turn after the cursor into the document, under its lock. Safe to run any number of times.

    `force` (a sweep or a restart): when the lock is taken, schedule the delayed look even if one is
    already recorded, since that one may have been held by a worker that died."""
    coordination.queued_clear(document_id=document_id)
    # Dirty first, lock second: if the holder is just letting go, it sees the flag and comes back.
    coordination.dirty_mark(document_id=document_id)
    lock = coordination.lock_acquire(document_id=document_id)
    if lock is None:
        metrics.UPDATES.labels(outcome="busy").inc()
        _recheck_later(document_id=document_id, force=force)
        return UpdateReport(outcome="busy")
    report = UpdateReport(outcome="done")
    correlation_id = correlation_id or current_correlation_id() or new_correlation_id()
    try:
        conflicts = 0
        while True:
            coordination.dirty_clear(document_id=document_id)
            if lock.lost:
                coordination.dirty_mark(document_id=document_id)
                break
            step = _update_step(document_id=document_id, correlation_id=correlation_id)
            report.steps.append(step)
            if step.outcome == "applied":
                continue
            if step.outcome == "conflict":
                conflicts += 1
                if conflicts < MAX_CONFLICTS_PER_RUN:
                    continue
                coordination.dirty_mark(document_id=document_id)
            break
    finally:
        lock.release()
    if coordination.dirty_take(document_id=document_id):
        document_trigger(document_ids=[document_id], correlation_id=correlation_id)
    return report


def _recheck_later(*, document_id: int, force: bool = False) -> None:
    """The holder normally sees the dirty flag; if it died instead (its lock runs out within the TTL),
    one delayed update per TTL window picks the document up without waiting for the next message."""
    delay = settings.SCRIBE_LOCK_TTL_SECONDS
    if coordination.recheck_claim(document_id=document_id, seconds=delay) or force:
        scribe_update_enqueue(document_id=document_id, countdown=delay)


def _turn(row: dict) -> dict:
    return {"seq": row["seq"], "author": row["author_name"], "origin": row["origin"], "text": row["text"]}


def _update_step(*, document_id: int, correlation_id: str) -> StepReport:
    started = time.perf_counter()
    document = ScribeDocument.objects.select_related("room").filter(pk=document_id).first()
    if document is None:
        return StepReport(outcome="gone")
    if not document.enabled:
        return StepReport(outcome="stopped")
    rows = list(
        Message.objects.filter(room_id=document.room_id, seq__gt=document.cursor_seq)
        .order_by("seq")
        .values("seq", "origin", "author_name", "text")[: settings.SCRIBE_BATCH_MAX_TURNS]
    )
    if not rows:
        if document.status != ScribeDocument.Status.IDLE:  # left by a worker that died, or turns skipped
            _status_set(document_id=document.pk, status=ScribeDocument.Status.IDLE)
        return StepReport(outcome="nothing")
    turns = [_turn(row) for row in rows]
    first_seq, last_seq = turns[0]["seq"], turns[-1]["seq"]
    _status_set(document_id=document.pk, status=ScribeDocument.Status.UPDATING)

    llm_started = time.perf_counter()
    try:
        answer = llm_chat_answer(
            messages=update_messages(
                title=document.title, style=document.style, version=document.version, document=document.content, turns=turns
            ),
            temperature=LLM_TEMPERATURE,
            max_tokens=settings.SCRIBE_LLM_MAX_TOKENS,
            timeout=settings.SCRIBE_LLM_TIMEOUT,
            purpose="scribe",
            metadata={"document": document.pk, "seq": f"{first_seq}..{last_seq}"},
        )
    except ChatterError as error:
        _failure_record(document_id=document.pk, reason=f"LLM {error.code}: {error.message}", outcome="llm_error")
        raise ScribeTransientError(f"LLM call failed: {error.message}") from error
    llm_seconds = time.perf_counter() - llm_started

    verdict = answer_check(
        answer=answer.text, previous=document.content, title=document.title, cut_short=answer.finish_reason == "length"
    )
    if verdict.content is None:
        llm_answer_refused(purpose="scribe", reason="truncated" if "truncated" in verdict.reason else "not_a_document")
        _failure_record(document_id=document.pk, reason=f"kept version {document.version}: {verdict.reason}", outcome="refused")
        raise ScribeTransientError(verdict.reason)
    for repair in verdict.repairs:
        metrics.REPAIRS.labels(kind=repair).inc()
    if verdict.repairs:
        logger.info("scribe answer mended document=%s repairs=%s", document.pk, ",".join(verdict.repairs))
    # The moderators' rules before anything is stored: the document is public and every version kept.
    gated = document_gate(content=verdict.content, rules=blocked_rules())
    if gated.changed:
        metrics.GATED.inc()
        logger.info("scribe gate document=%s reasons=%s", document.pk, ",".join(gated.reasons))
    verdict = replace(verdict, content=gated.content)
    new_version = document.version + 1
    try:
        key, sha256 = version_write(slug=document.slug, version=new_version, content=verdict.content)
    except StorageUnavailable as error:
        _failure_record(document_id=document.pk, reason=error.message, outcome="storage_error")
        raise ScribeTransientError(error.message) from error

    with transaction.atomic():
        applied = ScribeDocument.objects.filter(
            pk=document.pk, version=document.version, cursor_seq=document.cursor_seq, enabled=True
        ).update(
            version=new_version,
            cursor_seq=last_seq,
            content=verdict.content,
            status=ScribeDocument.Status.IDLE,
            updated_at=timezone.now(),
        )
        if applied:
            revision = ScribeRevision.objects.create(
                document_id=document.pk,
                version=new_version,
                kind=ScribeRevision.Kind.UPDATE,
                storage_key=key,
                sha256=sha256,
                size=len(verdict.content.encode()),
                first_seq=first_seq,
                last_seq=last_seq,
                turns=len(turns),
                correlation_id=correlation_id,
                llm_ms=llm_seconds * 1000,
            )
            transaction.on_commit(partial(_publish, document.pk))
    if not applied:
        # Stopped, edited, restored or restarted-from-now meanwhile: re-read and start over.
        metrics.UPDATES.labels(outcome="conflict").inc()
        logger.info("scribe update discarded document=%s version=%s (the document changed meanwhile)", document.pk, new_version)
        return StepReport(outcome="conflict")
    total = time.perf_counter() - started
    # The push ran on commit above, so the overhead recorded includes it.
    ScribeRevision.objects.filter(pk=revision.pk).update(overhead_ms=(total - llm_seconds) * 1000)
    metrics.UPDATES.labels(outcome="applied").inc()
    metrics.TURNS_FOLDED.inc(len(turns))
    metrics.UPDATE_SECONDS.labels(part="llm").observe(llm_seconds)
    metrics.UPDATE_SECONDS.labels(part="overhead").observe(total - llm_seconds)
    logger.info(
        "scribe updated document=%s version=%s turns=%s seq=%s..%s llm_ms=%.0f overhead_ms=%.1f",
        document.pk, new_version, len(turns), first_seq, last_seq, llm_seconds * 1000, (total - llm_seconds) * 1000,
    )
    return StepReport(
        outcome="applied",
        version=new_version,
        turns=len(turns),
        first_seq=first_seq,
        last_seq=last_seq,
        llm_seconds=llm_seconds,
        total_seconds=total,
    )


def _publish(document_id: int) -> None:
    document = ScribeDocument.objects.select_related("room").filter(pk=document_id).first()
    if document is not None:
        document_publish(document=document_payload(document))


def _status_set(*, document_id: int, status: str) -> None:
    if ScribeDocument.objects.filter(pk=document_id).exclude(status=status).update(status=status):
        _publish(document_id)


def _failure_record(*, document_id: int, reason: str, outcome: str) -> None:
    """Keep the previous version; say why on the document (page, API, admin) and in the log."""
    metrics.UPDATES.labels(outcome=outcome).inc()
    logger.warning("scribe update failed document=%s outcome=%s reason=%s", document_id, outcome, reason)
    ScribeDocument.objects.filter(pk=document_id).update(
        status=ScribeDocument.Status.ERROR, last_error=reason[:2000], last_error_at=timezone.now()
    )
    _publish(document_id)


# --- manual edits and restores ------------------------------------------------------------------------
def _stale(*, base_version: int, current: int) -> ChatterError:
    return ChatterError(
        ErrorCode.STALE,
        f"The document changed since you opened it: you edited version {base_version}, it is now version {current}. "
        "Your change was not saved. Reload the latest version, apply your change again and save.",
    )


def _new_version_commit(
    *, document: ScribeDocument, base_version: int, content: str, kind: str, user, restored_from: int | None = None
) -> ScribeDocument:
    """A version written by a person: stored first, then committed only if nobody wrote since base_version."""
    if document.version != base_version:
        raise _stale(base_version=base_version, current=document.version)
    new_version = base_version + 1
    key, sha256 = version_write(slug=document.slug, version=new_version, content=content)
    with transaction.atomic():
        applied = ScribeDocument.objects.filter(pk=document.pk, version=base_version).update(
            version=new_version, content=content, updated_at=timezone.now()
        )
        if not applied:
            current = ScribeDocument.objects.filter(pk=document.pk).values_list("version", flat=True).first() or 0
            raise _stale(base_version=base_version, current=current)
        ScribeRevision.objects.create(
            document_id=document.pk,
            version=new_version,
            kind=kind,
            storage_key=key,
            sha256=sha256,
            size=len(content.encode()),
            restored_from=restored_from,
            correlation_id=current_correlation_id() or new_correlation_id(),
            created_by=user if getattr(user, "pk", None) else None,
        )
        transaction.on_commit(partial(_publish, document.pk))
    document.refresh_from_db()
    logger.info("scribe %s document=%s version=%s by=%s", kind, document.pk, new_version, getattr(user, "pk", None))
    return document


def document_edit(*, document_id: int, content: str, base_version: int, user=None) -> ScribeDocument:
    """A moderator's edit, refused (code "stale") when the document moved past base_version."""
    document = ScribeDocument.objects.filter(pk=document_id).first()
    if document is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {document_id}")
    text = normalise(content or "")
    if not text.strip():
        raise ChatterError(ErrorCode.INVALID, "content: the document cannot be empty")
    if len(text) > settings.SCRIBE_MAX_DOCUMENT_CHARS:
        raise ChatterError(ErrorCode.TOO_LARGE, f"content: at most {settings.SCRIBE_MAX_DOCUMENT_CHARS} characters")
    return _new_version_commit(
        document=document, base_version=base_version, content=text, kind=ScribeRevision.Kind.EDIT, user=user
    )


def document_restore(*, document_id: int, version: int, base_version: int | None = None, user=None) -> ScribeDocument:
    """A new version whose text is an old one's. base_version (what the moderator saw) guards against staleness."""
    document = ScribeDocument.objects.filter(pk=document_id).first()
    if document is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {document_id}")
    revision = revision_get(document=document, version=version)
    content = revision_content(revision=revision)
    return _new_version_commit(
        document=document,
        base_version=document.version if base_version is None else base_version,
        content=content,
        kind=ScribeRevision.Kind.RESTORE,
        user=user,
        restored_from=version,
    )


def revision_redact(*, document_id: int, version: int, user, reason: str = "") -> ScribeRevision:
    """Remove a published version: its stored object is deleted and the revision marked redacted,
    so neither the page, the API nor a restore can show it again. The current version cannot be
    redacted (the live document is it): edit the document first, then redact the old version."""
    document = ScribeDocument.objects.filter(pk=document_id).first()
    if document is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {document_id}")
    revision = revision_get(document=document, version=version)
    if version == document.version:
        raise ChatterError(ErrorCode.INVALID, f"version {version} is the current document: edit it first, then redact this version")
    if revision.redacted_at is None:
        try:
            version_delete(key=revision.storage_key)
        except StorageUnavailable as error:
            raise ChatterError(ErrorCode.UNAVAILABLE, f"could not remove the stored version: {error.message}") from error
        ScribeRevision.objects.filter(pk=revision.pk).update(
            redacted_at=timezone.now(), redacted_by=user if getattr(user, "pk", None) else None, redaction_reason=reason[:200]
        )
        metrics.REDACTIONS.inc()
        logger.info("scribe version redacted document=%s version=%s by=%s", document.pk, version, getattr(user, "pk", None))
        transaction.on_commit(partial(_publish, document.pk))
    revision.refresh_from_db()
    return revision
