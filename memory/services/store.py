"""Writes to the memory store: hygiene, `memory_write` (Mem0 + the MemoryItem ledger, idempotent on
the dedupe key, superseding on subject), moderators' deletes and edits, fading, and marking memories
used. The rules callers rely on are in docs/architecture.md, "Memory".
"""
from __future__ import annotations

import hashlib
import logging
import re
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chat.safety import safety_check
from chat.selectors import blocked_rules
from chat.trends import EMOTE_SET
from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.injection import looks_like_instruction
from memory.mem0_client import mem0_call, mem0_forget, scope_for
from memory.metrics import MEM0_WRITE_SECONDS, MEMORY_WRITES
from memory.models import MemoryItem, ReflectionJob
from memory.selectors import MemoryHit, memory_search

log = logging.getLogger("chatter.memory")

MAX_TEXT_LENGTH = 300
DEDUPE_KEY_LENGTH = 64  # MemoryItem.dedupe_key max_length
SUPERSEDING_KINDS = frozenset({MemoryItem.Kind.RELATIONSHIP, MemoryItem.Kind.PREFERENCE})

_REPEATED_CHARS = re.compile(r"(\D)\1{5,}")  # "loooooool", "!!!!!!"; not "1000000 hp"
_WORD = re.compile(r"[^\W\d_]{2,}")  # two letters in a row, any script


# --- hygiene ----------------------------------------------------------------------------------------


def memory_text_refusal(text: str) -> tuple[str, str]:
    """(clean text, "") when `text` may be stored, else ("", reason).

    Refused: empty, longer than MAX_TEXT_LENGTH, personal data (anything the chat gate would redact),
    links, blocklisted terms, spam (a character repeated 6+ times, emotes or symbols only, the
    same words over and over), and instructions to a model, however encoded: a memory goes back
    into the persona's prompt as "things you remember", so an injected order would outlive the chat.
    """
    text = " ".join((text or "").split())
    if not text:
        return "", "empty"
    if len(text) > MAX_TEXT_LENGTH:
        return "", "too_long"
    checked = safety_check(text, origin="bot", rules=blocked_rules(), max_length=MAX_TEXT_LENGTH)
    if checked.action == "drop":
        return "", checked.reasons[-1] if checked.reasons else "blocked"
    if "pii_redacted" in checked.flags:
        return "", "pii"
    if any(reason.startswith("link") for reason in checked.reasons) or "link" in checked.flags:
        return "", "link"
    if "masked" in checked.flags:
        return "", "blocked"
    if looks_like_instruction(text):
        return "", "instruction"
    clean = checked.text
    if _REPEATED_CHARS.search(clean):
        return "", "spam:repeated_chars"
    tokens = clean.split()
    words = [t for t in tokens if t.strip(".,!?:;'\"()") not in EMOTE_SET and _WORD.search(t)]
    if len(words) < 2:
        return "", "spam:emote_only"
    if len(tokens) >= 4 and len({t.lower() for t in tokens}) * 2 < len(tokens):
        return "", "spam:repeated_words"
    return clean, ""


def _dedupe_key(key: str) -> str:
    key = (key or "").strip()
    if not key:
        raise ChatterError(ErrorCode.INVALID, "memory_write needs a dedupe_key")
    # Callers may build keys from long parts; the column holds 64 characters.
    return key if len(key) <= DEDUPE_KEY_LENGTH else hashlib.sha256(key.encode()).hexdigest()


# --- writes -----------------------------------------------------------------------------------------


def memory_write(
    *,
    room_slug: str,
    handle: str,
    kind: str,
    text: str,
    other_user: str = "",
    subject: str = "",
    confidence: str = MemoryItem.Confidence.MED,
    dedupe_key: str,
    source_job: ReflectionJob | int | None = None,
) -> MemoryItem | None:
    """Store one durable memory of a persona in a room, as given (no LLM extraction).

    Returns the MemoryItem; the existing one when `dedupe_key` was written before (no Mem0 call);
    None when hygiene refuses the text. Tag unverified chat claims confidence="low".
    Raises ChatterError(ErrorCode.INVALID) for a bad kind/confidence/key, ("unavailable") when Mem0 fails.
    """
    if kind not in MemoryItem.Kind.values:
        raise ChatterError(ErrorCode.INVALID, f"unknown memory kind {kind!r}")
    if confidence not in MemoryItem.Confidence.values:
        raise ChatterError(ErrorCode.INVALID, f"unknown confidence {confidence!r}")
    key = _dedupe_key(dedupe_key)
    existing = MemoryItem.objects.filter(dedupe_key=key).first()
    if existing is not None:
        MEMORY_WRITES.labels(outcome="duplicate").inc()
        return existing
    clean, refusal = memory_text_refusal(text)
    if refusal:
        MEMORY_WRITES.labels(outcome="refused").inc()
        log.info("memory: refused a %s memory for %s in %s (%s)", kind, handle, room_slug, refusal)
        return None

    scope = scope_for(room_slug, handle)
    other_user, subject = other_user.strip()[:100], subject.strip().lower()[:160]
    metadata = {
        "type": kind, "other_user": other_user, "confidence": confidence, "subject": subject,
        "dedupe_key": key, "room": room_slug, "handle": handle,
    }
    started = time.perf_counter()
    try:
        added = mem0_call("add", lambda memory: memory.add(clean, user_id=scope, metadata=metadata, infer=False))
    finally:
        MEM0_WRITE_SECONDS.observe(time.perf_counter() - started)
    mem0_id = next((r["id"] for r in added.get("results", []) if r.get("event") == "ADD"), "")
    if not mem0_id:
        raise ChatterError(ErrorCode.UNAVAILABLE, "the memory store stored nothing")

    source_job_id = source_job.pk if isinstance(source_job, ReflectionJob) else source_job
    try:
        with transaction.atomic():
            item = MemoryItem.objects.create(
                scope=scope, room_slug=room_slug, handle=handle, kind=kind, text=clean, other_user=other_user,
                subject=subject, confidence=confidence, mem0_id=mem0_id, dedupe_key=key, source_job_id=source_job_id,
            )
            replaced = _supersede_older(item)
    except IntegrityError:
        # Another worker wrote the same key meanwhile: theirs stands, ours must not linger in Mem0.
        mem0_forget([mem0_id])
        MEMORY_WRITES.labels(outcome="duplicate").inc()
        return MemoryItem.objects.get(dedupe_key=key)
    if replaced:
        # After commit: if the caller's transaction rolls back, the old memories stay current.
        transaction.on_commit(lambda: mem0_forget(replaced))
    MEMORY_WRITES.labels(outcome="stored").inc()
    item.refresh_from_db(fields=["status", "superseded_by"])
    return item


def _supersede_older(item: MemoryItem) -> list[str]:
    """Within the caller's transaction: of the ACTIVE memories on this subject, only the newest
    stays; returns the Mem0 ids to remove. Rows are locked, and "newest" is by id, so two writers
    racing on one subject agree; should both commit still seeing each other's row as active, the
    next write on that subject settles it."""
    if item.kind not in SUPERSEDING_KINDS or not item.subject:
        return []
    rows = list(
        MemoryItem.objects.select_for_update()
        .filter(scope=item.scope, kind=item.kind, subject=item.subject, status=MemoryItem.Status.ACTIVE)
        .order_by("-id")
    )
    if len(rows) < 2:
        return []
    newest, older = rows[0], rows[1:]
    MemoryItem.objects.filter(id__in=[row.id for row in older]).update(
        status=MemoryItem.Status.SUPERSEDED, superseded_by=newest, updated_at=timezone.now()
    )
    return [row.mem0_id for row in older if row.mem0_id]


def memory_delete(*, item: MemoryItem) -> MemoryItem:
    """A moderator's delete: the memory stops counting at once (status DELETED, kept in the
    ledger) and leaves the vector store. Raises ChatterError(ErrorCode.UNAVAILABLE) when the vector store
    could not be reached; deleting again retries the removal."""
    MemoryItem.objects.filter(pk=item.pk).update(status=MemoryItem.Status.DELETED, updated_at=timezone.now())
    item.status = MemoryItem.Status.DELETED
    failed = mem0_forget([item.mem0_id])
    if failed:
        raise ChatterError(ErrorCode.UNAVAILABLE, "marked deleted, but the vector store did not remove it yet: delete it again later")
    return item


def memory_moderator_edit(*, item: MemoryItem, text: str) -> MemoryItem:
    """A moderator rewrites a memory: a new memory with their text (same persona, room, kind and
    subject, high confidence) replaces it, and the old one stays in the ledger as superseded and
    leaves the vector store, so the persona recalls only the moderator's version. The text passes
    the same hygiene as any memory (no personal data, links or instructions)."""
    if item.status != MemoryItem.Status.ACTIVE:
        raise ChatterError(ErrorCode.INVALID, f"only an active memory can be edited (this one is {item.status})")
    text = (text or "").strip()
    if not text:
        raise ChatterError(ErrorCode.INVALID, "a memory cannot be empty")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    new = memory_write(
        room_slug=item.room_slug, handle=item.handle, kind=item.kind, text=text, other_user=item.other_user,
        subject=item.subject, confidence=MemoryItem.Confidence.HIGH, dedupe_key=f"moderator-edit:{item.pk}:{digest}",
    )
    if new is None:
        raise ChatterError(ErrorCode.INVALID, "the text was refused: memories hold no personal data, links or instructions")
    if new.pk != item.pk:
        MemoryItem.objects.filter(pk=item.pk, status=MemoryItem.Status.ACTIVE).update(
            status=MemoryItem.Status.SUPERSEDED, superseded_by=new, updated_at=timezone.now()
        )
        mem0_forget([item.mem0_id])
    return new


def memories_fade(*, now: datetime | None = None) -> int:
    """Running jokes (catchphrase) unused for more than MEMORY_JOKE_FADE_DAYS fade: status FADED,
    removed from Mem0. Returns how many faded. Safe to run from several processes at once."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.MEMORY_JOKE_FADE_DAYS)
    unused_since_cutoff = Q(last_used_at__lt=cutoff) | Q(last_used_at__isnull=True, created_at__lt=cutoff)
    stale = MemoryItem.objects.filter(unused_since_cutoff, kind=MemoryItem.Kind.CATCHPHRASE, status=MemoryItem.Status.ACTIVE)
    faded = 0
    for item_id, mem0_id in stale.values_list("id", "mem0_id"):
        # Claimed with a conditional update: a concurrent run, or a search that just used the joke, wins.
        claimed = MemoryItem.objects.filter(unused_since_cutoff, id=item_id, status=MemoryItem.Status.ACTIVE).update(
            status=MemoryItem.Status.FADED, updated_at=now
        )
        if claimed:
            faded += 1
            mem0_forget([mem0_id])
    return faded


# --- use ------------------------------------------------------------------------------------------


def memories_mark_used(*, item_ids: list[int], now: datetime | None = None) -> datetime:
    """Mark memories used now (a running joke in use does not fade). Returns the time written."""
    now = now or timezone.now()
    if item_ids:
        MemoryItem.objects.filter(id__in=item_ids).update(last_used_at=now)
    return now


def memory_recall(
    *, room_slug: str, handle: str, query: str, k: int, kinds: list[str] | None = None, timeout: float | None = None
) -> list[MemoryHit]:
    """`memory_search`, and the memories found marked used: what a persona about to speak calls."""
    hits = memory_search(room_slug=room_slug, handle=handle, query=query, k=k, kinds=kinds, timeout=timeout)
    if not hits:
        return hits
    now = memories_mark_used(item_ids=[hit["id"] for hit in hits])
    return [MemoryHit(**{**hit, "last_used_at": now}) for hit in hits]
