"""The scribe's update (SPEC 7), in order (document_update_run → _update_step):
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
import time
from dataclasses import dataclass, field, replace
from functools import partial

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from chat.models import Message
from chat.selectors import blocked_rules
from chatter_site.lib.correlation import current_correlation_id, new_correlation_id
from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.llm import llm_answer_refused, llm_chat_answer
from scribe import coordination, metrics
from scribe.enqueue import scribe_update_enqueue
from scribe.gate import document_gate
from scribe.models import ScribeDocument, ScribeRevision
from scribe.prompts import answer_check, update_messages
from scribe.services.triggers import document_push, document_trigger
from scribe.storage import StorageUnavailable, version_write

logger = logging.getLogger("chatter.scribe")

MAX_CONFLICTS_PER_RUN = 5
LLM_TEMPERATURE = 0.4
# Past the moment a dead holder's lock runs out, for the countdown's and the queue's slack.
RECHECK_MARGIN_SECONDS = 0.25


class ScribeTransientError(ChatterError):
    """An update failed for a reason that may pass (LLM, storage, a refused answer): retry it."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


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
    """The holder normally sees the dirty flag; if it died instead (killed, or its release lost in a
    Redis outage), its lock runs out unrenewed: one delayed update looks again right then, without
    waiting for the next message. A live holder renews, so that look finds it busy and books another."""
    left = coordination.lock_seconds_left(document_id=document_id) or 0.0
    delay = min(settings.SCRIBE_LOCK_TTL_SECONDS, left + RECHECK_MARGIN_SECONDS)
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
            _status_set(document_id=document.pk, status=ScribeDocument.Status.IDLE)  # type: ignore[arg-type]  # a Django choice: typed as its (value, label) tuple without django-stubs
        return StepReport(outcome="nothing")
    turns = [_turn(row) for row in rows]
    first_seq, last_seq = turns[0]["seq"], turns[-1]["seq"]
    _status_set(document_id=document.pk, status=ScribeDocument.Status.UPDATING)  # type: ignore[arg-type]  # a Django choice: typed as its (value, label) tuple without django-stubs

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
    content = gated.content
    verdict = replace(verdict, content=content)
    new_version = document.version + 1
    try:
        key, sha256 = version_write(slug=document.slug, version=new_version, content=content)
    except StorageUnavailable as error:
        _failure_record(document_id=document.pk, reason=error.message, outcome="storage_error")
        raise ScribeTransientError(error.message) from error

    with transaction.atomic():
        applied = ScribeDocument.objects.filter(
            pk=document.pk, version=document.version, cursor_seq=document.cursor_seq, enabled=True
        ).update(
            version=new_version,
            cursor_seq=last_seq,
            content=content,
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
                size=len(content.encode()),
                first_seq=first_seq,
                last_seq=last_seq,
                turns=len(turns),
                correlation_id=correlation_id,
                llm_ms=llm_seconds * 1000,
            )
            transaction.on_commit(partial(document_push, document.pk))
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


def _status_set(*, document_id: int, status: str) -> None:
    if ScribeDocument.objects.filter(pk=document_id).exclude(status=status).update(status=status):
        document_push(document_id)


def _failure_record(*, document_id: int, reason: str, outcome: str) -> None:
    """Keep the previous version; say why on the document (page, API, admin) and in the log."""
    metrics.UPDATES.labels(outcome=outcome).inc()
    logger.warning("scribe update failed document=%s outcome=%s reason=%s", document_id, outcome, reason)
    ScribeDocument.objects.filter(pk=document_id).update(
        status=ScribeDocument.Status.ERROR, last_error=reason[:2000], last_error_at=timezone.now()
    )
    document_push(document_id)
