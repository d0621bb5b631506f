"""Memory's reads, for views, admin, commands, personas and memory's own services. They write no
state, take no lock and enqueue nothing; what reads and then writes (marking memories used, warming
the narrative cache, asking for a regeneration) is in memory.services. docs/architecture.md, "Memory".
"""
from __future__ import annotations

import json
import logging
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypedDict

import redis
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, F, Max, Min, Q, QuerySet
from django.utils import timezone
from kombu.transport.redis import PRIORITY_STEPS, Channel

from chat.models import Conversation, Message
from chatter_site.jobs.models import Job
from chatter_site.lib.jobs import JobStatus
from chatter_site.lib.redis import redis_client
from memory.enqueue import CONVERSATION_BATCH_JOBS, NARRATIVE_JOBS
from memory.keys import (
    PENDING_INDEX_KEY,
    UNKNOWN_PERSONA_KEY,
    narrative_cache_key,
    noted_key,
    pending_key,
)
from memory.mem0_client import mem0_hits, mem0_hits_bounded, scope_for
from memory.metrics import NARRATIVE_CACHE_READS
from memory.models import MemoryItem, Narrative, ReflectionJob

log = logging.getLogger("chatter.memory")

# Hits Mem0 returns beyond k: room for vectors the ledger no longer counts as active.
SEARCH_OVERFETCH = 5
REFLECTION_BROKER_QUEUE = "reflection"


# --- memories -------------------------------------------------------------------------------------


class MemoryHit(TypedDict):
    """One search result: the ledger's view of a memory, in Mem0's ranking order."""

    id: int
    mem0_id: str
    kind: str
    text: str
    other_user: str
    subject: str
    confidence: str
    score: float | None
    created_at: datetime
    last_used_at: datetime | None


def memory_search(
    *, room_slug: str, handle: str, query: str, k: int, kinds: list[str] | None = None, timeout: float | None = None
) -> list[MemoryHit]:
    """The `k` ACTIVE memories of this persona in this room closest to `query`, best first.

    Only the persona's own scope is searched. A read: `memory_recall` (services) also marks the
    memories used. With `timeout`, the Mem0 part (embedding + vector search) runs on a shared
    thread pool and ChatterError("unavailable") is raised when it takes longer; the ledger part runs
    here, on the caller's database connection.
    """
    query = " ".join((query or "").split())
    if k <= 0 or not query:
        return []
    scope = scope_for(room_slug, handle)
    remembered = MemoryItem.objects.filter(scope=scope, status=MemoryItem.Status.ACTIVE)
    if kinds:
        remembered = remembered.filter(kind__in=kinds)
    if not remembered.exists():
        return []  # nothing to find: no embedding call, no vector search (and no Mem0 to build)
    search: dict[str, Any] = {"scope": scope, "query": query[:1000], "top_k": k + SEARCH_OVERFETCH, "kinds": kinds}
    hits = mem0_hits_bounded(timeout=timeout, **search) if timeout is not None else mem0_hits(**search)
    scores = {hit["id"]: hit.get("score") for hit in hits if hit.get("id")}
    if not scores:
        return []
    items = remembered.filter(mem0_id__in=list(scores))
    by_mem0 = {item.mem0_id: item for item in items}
    ranked = [by_mem0[mem0_id] for mem0_id in scores if mem0_id in by_mem0][:k]
    if not ranked:
        return []
    return [
        MemoryHit(
            id=item.id, mem0_id=item.mem0_id, kind=item.kind, text=item.text, other_user=item.other_user,
            subject=item.subject, confidence=item.confidence, score=scores[item.mem0_id], created_at=item.created_at,
            last_used_at=item.last_used_at,
        )
        for item in ranked
    ]


def memory_prompt_line(hit: MemoryHit) -> str:
    """One memory as the persona's prompt shows it; unverified ones say so."""
    kind, other, text = hit["kind"], hit["other_user"], hit["text"]
    if kind == MemoryItem.Kind.RELATIONSHIP:
        label = f"relationship with {other}" if other else "relationship"
    elif kind == MemoryItem.Kind.CATCHPHRASE:
        label = "running joke"
    elif kind == MemoryItem.Kind.PREFERENCE:
        label = f"{other}'s preference" if other else "preference"
    elif kind == MemoryItem.Kind.LORE_EVENT:
        label = "room lore"
    else:
        label = "how you changed"
    unverified = " (unverified)" if hit["confidence"] == MemoryItem.Confidence.LOW else ""
    return f"{label}: {text}{unverified}"


def memory_history(*, item: MemoryItem) -> list[MemoryItem]:
    """The supersede history `item` belongs to, oldest first: from the memory that replaced it
    (transitively) back through everything that one replaced."""
    head = item
    seen = {item.pk}
    while head.superseded_by_id and head.superseded_by_id not in seen:
        head = MemoryItem.objects.get(pk=head.superseded_by_id)
        seen.add(head.pk)
    ids, frontier = {head.pk}, [head.pk]
    while frontier:
        frontier = list(MemoryItem.objects.filter(superseded_by__in=frontier).exclude(pk__in=ids).values_list("pk", flat=True))
        ids.update(frontier)
    return list(MemoryItem.objects.filter(pk__in=ids).order_by("created_at", "id"))


# --- personas and viewers --------------------------------------------------------------------------


@dataclass(frozen=True)
class PersonaLine:
    room_slug: str
    room_title: str
    text: str
    created_at: datetime


@dataclass(frozen=True)
class PersonaProfile:
    """A persona's public face as chat showed it (name, colour, badges of its latest line).

    Built from chat's messages, not from personas.Persona: memory never imports personas.
    """

    handle: str
    name: str
    color: str
    badges: list[str]
    lines: list[PersonaLine]
    line_count: int


PERSONA_PAGE_LINES = 20
DEFAULT_COLOR = "#9147ff"
HEX_COLOR = re.compile(r"#[0-9a-fA-F]{6}")  # it lands in a style attribute: nothing else gets through


def persona_profile_get(*, handle: str, lines: int = PERSONA_PAGE_LINES) -> PersonaProfile | None:
    """None for a handle that never spoke and has no memories."""
    if not persona_known(handle=handle):
        return None
    authored = Message.objects.filter(author_key=f"bot:{handle}")
    recent = list(authored.select_related("room").order_by("-created_at")[:lines])
    latest = recent[0] if recent else None
    return PersonaProfile(
        handle=handle,
        name=latest.author_name if latest else handle,
        color=latest.author_color if latest and HEX_COLOR.fullmatch(latest.author_color or "") else DEFAULT_COLOR,
        badges=list(latest.author_badges or []) if latest else [],
        lines=[PersonaLine(m.room.slug, m.room.title, m.text, m.created_at) for m in recent],
        line_count=authored.count() if recent else 0,
    )


UNKNOWN_PERSONA_SECONDS = 30


def persona_known(*, handle: str) -> bool:
    """narrative_subject_exists for a persona, with "not found" remembered for a while: persona
    URLs are public and take any name, so a stream of made-up ones costs one lookup each, not one per hit.
    The one Redis write in this module: a short-lived cache of this read's own answer, not state."""
    key = UNKNOWN_PERSONA_KEY.format(handle=handle)
    try:
        if redis_client().exists(key):
            return False
    except redis.RedisError:
        pass
    known = narrative_subject_exists(subject_type="persona", subject_key=handle)
    if not known:
        try:
            redis_client().set(key, "1", ex=UNKNOWN_PERSONA_SECONDS)
        except redis.RedisError:
            pass
    return known


@dataclass(frozen=True)
class ViewerActivity:
    messages: int
    rooms: int
    last_seen: datetime | None


def viewer_activity_get(*, user) -> ViewerActivity:
    totals = Message.objects.filter(user=user).aggregate(
        messages=Count("id"), rooms=Count("room", distinct=True), last_seen=Max("created_at")
    )
    return ViewerActivity(**totals)


# --- narratives -------------------------------------------------------------------------------------

SubjectType = Literal["persona", "viewer"]
SUBJECT_TYPES: tuple[SubjectType, ...] = ("persona", "viewer")
ACTIVE_DAYS = 7
SKIPPED_PREFIX = "skipped:"


@dataclass(frozen=True)
class NarrativeRead:
    """What a reader gets: the text when ready, else whether to wait ("pending") or give up."""

    subject_type: SubjectType
    subject_key: str
    status: Literal["ready", "pending", "not_enough_history"]
    text: str | None = None
    generated_at: datetime | None = None
    reason: str = ""


def narrative_ttl_seconds() -> float:
    return settings.NARRATIVE_TTL_DAYS * 86400.0


def narrative_fresh(generated_at: datetime) -> bool:
    return (timezone.now() - generated_at).total_seconds() < narrative_ttl_seconds()


def _entry_fresh(entry: dict) -> bool:
    return time.time() - entry["ts"] < narrative_ttl_seconds()


def _cache_get(subject_type: str, subject_key: str) -> dict | None:
    try:
        raw = redis_client().get(narrative_cache_key(subject_type, subject_key))
    except redis.RedisError:
        log.warning("narrative cache unavailable subject=%s:%s", subject_type, subject_key)
        return None
    if raw is None:
        return None
    try:
        entry = json.loads(raw)
    except ValueError:
        entry = None
    if not (isinstance(entry, dict) and isinstance(entry.get("ts"), (int, float)) and isinstance(entry.get("text"), str)):
        log.warning("narrative cache entry unreadable subject=%s:%s", subject_type, subject_key)
        return None
    return entry


def narrative_cache_read(*, subject_type: SubjectType, subject_key: str) -> NarrativeRead | None:
    """The fresh cached narrative (one Redis GET, counted as a hit or a miss), or None."""
    entry = _cache_get(subject_type, subject_key)
    if entry is not None and _entry_fresh(entry):
        NARRATIVE_CACHE_READS.labels(outcome="hit").inc()
        generated_at = datetime.fromtimestamp(entry["ts"], tz=UTC)
        return NarrativeRead(subject_type, subject_key, "ready", entry["text"], generated_at)
    NARRATIVE_CACHE_READS.labels(outcome="miss").inc()
    return None


def narrative_row_fresh(*, subject_type: SubjectType, subject_key: str) -> Narrative | None:
    """The narrative's database row when it is younger than NARRATIVE_TTL_DAYS."""
    row = Narrative.objects.filter(subject_type=subject_type, subject_key=subject_key).first()
    return row if row is not None and narrative_fresh(row.generated_at) else None


def narrative_is_fresh(*, subject_type: SubjectType, subject_key: str) -> bool:
    entry = _cache_get(subject_type, subject_key)
    if entry is not None and _entry_fresh(entry):
        return True
    row = Narrative.objects.filter(subject_type=subject_type, subject_key=subject_key).only("generated_at").first()
    return row is not None and narrative_fresh(row.generated_at)


def narrative_regeneration_job(*, subject_type: str, subject_key: str) -> Job | None:
    """The subject's regeneration job (memory/jobs.py), if it ever had one."""
    return Job.objects.filter(kind=NARRATIVE_JOBS, key=f"{subject_type}:{subject_key}").first()


def narrative_regeneration_state(*, subject_type: SubjectType, subject_key: str) -> str:
    """The regeneration job's status ("pending", "running", "failed", "dead", "done"), "skipped:<reason>"
    when it last found too little to write from, or "" when there never was one."""
    job = narrative_regeneration_job(subject_type=subject_type, subject_key=subject_key)
    if job is None:
        return ""
    if job.status == JobStatus.DONE and job.result.get("skipped"):
        return SKIPPED_PREFIX + str(job.result["skipped"])
    return str(job.status)


def narrative_subject_exists(*, subject_type: SubjectType, subject_key: str) -> bool:
    """A persona is known by its lines or memories; a viewer by their account."""
    if subject_type == "persona":
        return (
            Message.objects.filter(author_key=f"bot:{subject_key}").exists()
            or MemoryItem.objects.filter(handle=subject_key).exists()
        )
    return get_user_model().objects.filter(username=subject_key).exists()


def narrative_subjects_active(*, days: int = ACTIVE_DAYS) -> list[tuple[SubjectType, str]]:
    """Bot authors and signed-in humans who wrote in the last `days` days."""
    since = timezone.now() - timedelta(days=days)
    recent = Message.objects.filter(created_at__gte=since)
    handles = {key.removeprefix("bot:") for key in recent.filter(author_key__startswith="bot:").values_list("author_key", flat=True).distinct()}
    usernames = set(recent.filter(user__isnull=False).values_list("user__username", flat=True).distinct())
    return [("persona", h) for h in sorted(handles)] + [("viewer", u) for u in sorted(usernames)]


def narrative_backfill_candidates(*, subjects: str, min_messages: int) -> list[tuple[SubjectType, str]]:
    """Existing personas (bot authors and memory handles) and viewers with at least `min_messages` messages."""
    found: list[tuple[SubjectType, str]] = []
    if subjects in ("personas", "all"):
        handles = {
            key.removeprefix("bot:")
            for key in Message.objects.filter(author_key__startswith="bot:").values_list("author_key", flat=True).distinct()
        }
        handles |= set(MemoryItem.objects.values_list("handle", flat=True).distinct())
        found += [("persona", h) for h in sorted(h for h in handles if h)]
    if subjects in ("viewers", "all"):
        regulars = (
            Message.objects.filter(user__isnull=False)
            .values("user__username")
            .annotate(n=Count("id"))
            .filter(n__gte=max(min_messages, 1))
            .order_by("user__username")
        )
        found += [("viewer", row["user__username"]) for row in regulars]
    return found


# --- reflection -------------------------------------------------------------------------------------


def reflection_noted_seq(room_slug: str) -> int | None:
    """The last seq of the room whose witnesses were noted, or None if the room was never collected
    (or Redis lost the cursor)."""
    value = redis_client().get(noted_key(room_slug))
    return int(value) if value is not None else None


def reflection_last_job_seq(room_slug: str) -> int:
    """The last seq any reflection job of the room covers (0 if none): where noting restarts when the
    Redis cursor is gone."""
    return ReflectionJob.objects.filter(room_slug=room_slug).aggregate(last=Max("last_seq"))["last"] or 0


def reflection_pending(*, room_slug: str, handle: str) -> dict[str, Any] | None:
    """The scope's range not yet turned into a job: {first_seq, last_seq, count, first_at} or None."""
    raw = redis_client().hgetall(pending_key(scope_for(room_slug, handle)))
    if not raw:
        return None
    fields = {key.decode(): value.decode() for key, value in raw.items()}
    return {
        "first_seq": int(fields["min"]),
        "last_seq": int(fields["max"]),
        "count": int(fields["count"]),
        "first_at": float(fields["first_at"]),
    }


def reflection_broker_queue_length(queue: str) -> int:
    """Messages waiting in the Celery queue: kombu's Redis transport keeps one list per priority step."""
    steps = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("priority_steps", PRIORITY_STEPS)
    pipe = redis_client().pipeline(transaction=False)
    for step in steps:
        pipe.llen(f"{queue}{Channel.sep}{step}" if step else queue)
    return sum(pipe.execute())


def reflection_status(*, now: datetime | None = None) -> dict[str, Any]:
    """Queue depth, lag and failures, for staff and monitoring.

    Lag is the age of the oldest job still waiting to run (pending, or failed and due for a retry).
    """
    now = now or timezone.now()
    jobs = ReflectionJob.objects
    waiting = [ReflectionJob.Status.PENDING, ReflectionJob.Status.FAILED]
    by_status = jobs.aggregate(
        **{status: Count("pk", filter=Q(status=status)) for status in ReflectionJob.Status.values},
        done_last_hour=Count("pk", filter=Q(status=ReflectionJob.Status.DONE, finished_at__gte=now - timedelta(hours=1))),
        oldest_waiting=Min("created_at", filter=Q(status__in=waiting)),
    )
    oldest = by_status["oldest_waiting"]
    return {
        "queue_depth": by_status["pending"] + by_status["failed"],
        "broker_queue_length": reflection_broker_queue_length(REFLECTION_BROKER_QUEUE),
        "unflushed_scopes": redis_client().zcard(PENDING_INDEX_KEY),
        "pending": by_status["pending"],
        "running": by_status["running"],
        "failed": by_status["failed"],
        "dead": by_status["dead"],
        "folded": by_status["folded"],
        "done_last_hour": by_status["done_last_hour"],
        "lag_seconds": round((now - oldest).total_seconds(), 1) if oldest else 0.0,
        "oldest_pending_created_at": oldest.isoformat() if oldest else None,
    }


def reflection_gauges() -> dict[str, tuple[str, float]]:
    """/metrics: the reflection queue as gauges (read at scrape time, like the status endpoint)."""
    status = reflection_status()
    return {
        "chatter_reflection_queue_depth": ("Reflection jobs waiting to run (pending or failed, due for a retry)", status["queue_depth"]),
        "chatter_reflection_lag_seconds": ("Age of the oldest reflection job still waiting", status["lag_seconds"]),
        "chatter_reflection_dead_jobs": ("Reflection jobs in the dead letters", status["dead"]),
    }


# --- conversation memories ----------------------------------------------------------------------------


def conversations_needing_memory(*, inactive_for: timedelta) -> QuerySet[Conversation]:
    """Conversations quiet for longer than `inactive_for` (ended or not) whose memory is missing or behind."""
    cutoff = timezone.now() - inactive_for
    return (
        Conversation.objects.filter(last_message_at__lt=cutoff)
        .filter(Q(memory__isnull=True) | Q(memory__covered_last_seq__lt=F("last_seq")))
        .order_by("pk")
    )


@dataclass(frozen=True)
class JobProgress:
    total: int
    done: int
    failed: int
    skipped: int
    finished: bool
    failed_ids: list[int]

    @property
    def processed(self) -> int:
        return self.done + self.failed + self.skipped


def conversation_memories_job_progress(*, job_id: str) -> JobProgress | None:
    """A batch's progress from its durable job's row (memory/jobs.py); None when there is no such job."""
    job = Job.objects.filter(kind=CONVERSATION_BATCH_JOBS, pk=int(job_id)).first() if str(job_id).isdigit() else None
    if job is None:
        return None
    result = job.result or {}
    return JobProgress(
        total=len(job.payload.get("conversation_ids", [])),
        done=int(result.get("done", 0)),
        failed=int(result.get("failed", 0)),
        skipped=int(result.get("skipped", 0)),
        finished=job.status in (JobStatus.DONE, JobStatus.DEAD),
        failed_ids=[int(i) for i in result.get("failed_ids", [])],
    )
