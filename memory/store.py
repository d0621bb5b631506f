"""The memory store: durable memories of one scope (a persona in a room) kept in Mem0, mirrored in
the MemoryItem ledger.

Who holds what:
- Mem0 (the real `mem0ai` library) holds the text and its vector in the vector store, under
  `user_id = scope_for(room, handle)`, with the metadata of SPEC 6.2 (type, other_user, confidence)
  plus subject, dedupe_key, room and handle. Its LLM and embedder are the project's OpenAI-compatible
  endpoint (chatter_site.lib.llm.llm_config()); only the embedder is ever called, since writes use
  `infer=False`: extraction is the reflection job's work, the store keeps what it is given.
- The ledger (MemoryItem) is the source of truth for status. Search maps Mem0's hits back to ACTIVE
  ledger rows, so a vector whose removal failed (store down at that moment) or whose ledger row was
  never written (a crash between the two writes) never reaches a prompt.

Rules the callers rely on:
- Witnessed scoping: callers pass the persona's own room and handle; every search is filtered by
  that scope's user_id, so one persona never reads another's memories.
- Unverified chat claims ("I'm the streamer's brother") may be stored only with confidence="low";
  the store cannot tell a claim from a fact, so tagging them is the caller's (reflection's) duty.
- Writes are idempotent on `dedupe_key` (a redo of an at-least-once job stores nothing twice).
- A relationship or preference with a subject replaces the ACTIVE one of the same scope, kind and
  subject (status SUPERSEDED, kept as history, removed from Mem0). Running jokes (catchphrase)
  unused for MEMORY_JOKE_FADE_DAYS fade (memories_fade, run from beat).

Vector stores (CHATTER_VECTOR_STORE, else the Chroma server `runchatter` starts):
- chroma://host:port: a Chroma server (`chroma run`); works across Daphne and Celery processes.
- qdrant://host:port: a Qdrant server (never embedded Qdrant: one process only).
- postgres://user:pass@host:port/db: pgvector (needs the `vector` extension and psycopg_pool;
  neither is available on the development machines, so this path is untested here).
Vector size: CHATTER_EMBED_DIMS is asked of the embedding endpoint (`dimensions`); 0 asks nothing and
takes the model's own size. Either way the size the endpoint really answers is checked once per
process (one embedding) before Mem0 is built: an endpoint that ignores `dimensions`, or a size the
existing collection does not hold, fails with a message saying what to set (CHATTER_EMBED_DIMS=0, a
new CHATTER_MEMORY_COLLECTION) instead of writing vectors the store cannot compare.

Every Mem0 failure surfaces as ChatterError("unavailable"); messages never carry the API key.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import Any, TypedDict
from urllib.parse import urlparse

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from chat.safety import safety_check
from chat.selectors import blocked_rules
from chat.trends import EMOTE_SET
from chatter_site.lib.errors import ChatterError
from chatter_site.lib.injection import looks_like_instruction
from chatter_site.lib.llm import llm_config
from chatter_site.lib.metrics import counter, histogram
from memory.models import MemoryItem, ReflectionJob
from memory.vector_size import EmbeddingSizeError, collection_size, embedding_size, embedding_size_check

log = logging.getLogger("chatter.memory")

WRITES = counter("chatter_memory_writes_total", "Memory writes by outcome", ("outcome",))
WRITE_SECONDS = histogram("chatter_mem0_write_seconds", "One Mem0 add (embedding + vector store), successful or not")

MAX_TEXT_LENGTH = 300
DEDUPE_KEY_LENGTH = 64  # MemoryItem.dedupe_key max_length
SUPERSEDING_KINDS = frozenset({MemoryItem.Kind.RELATIONSHIP, MemoryItem.Kind.PREFERENCE})
HISTORY_DB_NAME = "history.db"
# Bounds on one request to the vector store and on the probe before Mem0 is built: the Chroma
# client waits forever by default, and a stuck request would pin a search thread for good.
STORE_REQUEST_TIMEOUT = 10.0
STORE_PROBE_TIMEOUT = 2.0
# Search threads shared by every fast-path caller of this process; more callers than this at
# once are turned away ("busy") instead of queueing behind a slow store.
SEARCH_THREADS = 4
# Hits Mem0 returns beyond k: room for vectors the ledger no longer counts as active.
SEARCH_OVERFETCH = 5

NOT_CONFIGURED = (
    "no vector store for memories: set CHATTER_VECTOR_STORE (chroma://host:port, qdrant://host:port "
    "or a postgres:// URL for pgvector), or start `python manage.py runchatter`, which runs a Chroma server"
)

_REPEATED_CHARS = re.compile(r"(\D)\1{5,}")  # "loooooool", "!!!!!!"; not "1000000 hp"
_WORD = re.compile(r"[^\W\d_]{2,}")  # two letters in a row, any script


class SearchTimeout(ChatterError):
    """A bounded search took longer than its timeout (it goes on in the background)."""


class SearchBusy(ChatterError):
    """Every search thread is still waiting on the store: turned away rather than queued."""


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


# --- scope and configuration ------------------------------------------------------------------------


def scope_for(room_slug: str, handle: str) -> str:
    """The Mem0 user_id of a persona in a room: its memories are its own and this room's."""
    return f"room:{room_slug}|agent:{handle}"


def vector_store_url() -> str:
    url = settings.MEMORY_VECTOR_STORE_URL
    if not url:
        raise ChatterError("unavailable", NOT_CONFIGURED)
    return url


def _vector_store_config(url: str, *, collection: str, dims: int) -> dict[str, Any]:
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    try:
        port = parsed.port
    except ValueError:
        raise ChatterError("invalid", f"CHATTER_VECTOR_STORE has a bad port: {url!r}") from None
    if scheme == "chroma":
        if not parsed.hostname:
            raise ChatterError("invalid", f"CHATTER_VECTOR_STORE needs chroma://host:port, got {url!r}")
        return {"provider": "chroma", "config": {"host": parsed.hostname, "port": port or 8000, "collection_name": collection}}
    if scheme == "qdrant":
        if not parsed.hostname:
            raise ChatterError("invalid", f"CHATTER_VECTOR_STORE needs qdrant://host:port, got {url!r}")
        return {
            "provider": "qdrant",
            "config": {"host": parsed.hostname, "port": port or 6333, "collection_name": collection, "embedding_model_dims": dims},
        }
    if scheme in ("postgres", "postgresql"):
        return {
            "provider": "pgvector",
            "config": {"connection_string": url, "collection_name": collection, "embedding_model_dims": dims},
        }
    raise ChatterError("invalid", f"CHATTER_VECTOR_STORE must be chroma://, qdrant:// or postgres://, got {parsed.scheme or url!r}")


def mem0_config(*, vector_dims: int | None = None) -> dict[str, Any]:
    """Mem0's configuration: the project's LLM endpoint for its LLM and embedder, the vector store
    from CHATTER_VECTOR_STORE. Holds the API key: pass it to Mem0, never log it.

    `vector_dims`: the size the endpoint was found to answer (needed by Qdrant and pgvector when
    CHATTER_EMBED_DIMS is 0); Mem0's embedder sends `dimensions` only when CHATTER_EMBED_DIMS is set."""
    url = vector_store_url()
    llm = llm_config()
    embedder = {"model": llm["embed_model"], "api_key": llm["api_key"], "openai_base_url": llm["embed_base_url"]}
    if llm["embed_dims"]:
        embedder["embedding_dims"] = llm["embed_dims"]
    return {
        "llm": {
            "provider": "openai",
            "config": {"model": llm["model"], "api_key": llm["api_key"], "openai_base_url": llm["base_url"]},
        },
        "embedder": {"provider": "openai", "config": embedder},
        "vector_store": _vector_store_config(url, collection=settings.MEMORY_COLLECTION, dims=vector_dims or llm["embed_dims"]),
        "history_db_path": str(settings.MEMORY_DIR / HISTORY_DB_NAME),
    }


# --- one Mem0 per process (rebuilt after fork and when the configuration changes) ------------------

# Building Mem0 takes a second or more (imports, the store's first requests) under _lock; the
# fast path only ever takes _pool_lock, so a build in progress never holds it up.
_lock = threading.Lock()
_memory: Any = None
_memory_key: str | None = None
_built_pid = 0
_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_pool_slots = threading.BoundedSemaphore(SEARCH_THREADS)
# A size misfit found for a configuration: given again without a new probe for a while.
_misfit: tuple[str, float, EmbeddingSizeError] | None = None
MISFIT_RECHECK_SECONDS = 60.0


def _reset_after_fork() -> None:
    # A Celery prefork child inherits the parent's Mem0 (HTTP connection pools shared with the
    # parent), a search pool whose threads do not exist here, and locks possibly held at fork time.
    global _lock, _memory, _memory_key, _pool_lock, _pool, _pool_slots
    _lock, _pool_lock = threading.Lock(), threading.Lock()
    _memory, _memory_key, _pool = None, None, None
    _pool_slots = threading.BoundedSemaphore(SEARCH_THREADS)


os.register_at_fork(after_in_child=_reset_after_fork)


def store_reset() -> None:
    """Forget this process's Mem0 (tests, or after changing settings); the next call builds anew."""
    global _memory, _memory_key, _misfit
    with _lock:
        _memory, _memory_key, _misfit = None, None, None


def _probe_chroma(host: str, port: int) -> None:
    # Fails fast (and bounded) when the server is down or hung: building Mem0 against it would
    # wait on a client without a timeout.
    for version in ("v2", "v1"):
        try:
            with urllib.request.urlopen(f"http://{host}:{port}/api/{version}/heartbeat", timeout=STORE_PROBE_TIMEOUT) as answer:
                if answer.status == 200:
                    return
        except urllib.error.HTTPError as exc:
            if exc.code in (404, 410):
                continue  # the other API version
            raise ChatterError("unavailable", f"the Chroma server at {host}:{port} answered HTTP {exc.code}") from None
        except OSError as exc:
            raise ChatterError("unavailable", f"the Chroma server at {host}:{port} does not answer: {exc}") from None
    raise ChatterError("unavailable", f"{host}:{port} does not look like a Chroma server")


def _bound_clients(memory: Any, llm: dict[str, Any]) -> None:
    """Give Mem0's HTTP clients timeouts: the openai clients would retry for minutes, Chroma's
    client waits forever. Attributes are looked up defensively: they are Mem0's and Chroma's."""
    for component in (getattr(memory, "embedding_model", None), getattr(memory, "llm", None)):
        client = getattr(component, "client", None)
        if client is not None and hasattr(client, "with_options"):
            component.client = client.with_options(timeout=llm["timeout"], max_retries=llm["max_retries"])
    session = getattr(getattr(getattr(memory.vector_store, "client", None), "_server", None), "_session", None)
    if session is not None:
        import httpx

        session.timeout = httpx.Timeout(STORE_REQUEST_TIMEOUT, connect=STORE_PROBE_TIMEOUT)


def _build(config: dict[str, Any]) -> Any:
    global _built_pid
    answered = embedding_size()
    asked = settings.CHATTER_EMBED_DIMS
    embedding_size_check(answered=answered, asked=asked, held=None, collection=settings.MEMORY_COLLECTION)
    config = mem0_config(vector_dims=answered)
    vector_store = config["vector_store"]
    if vector_store["provider"] == "chroma":
        _probe_chroma(vector_store["config"]["host"], vector_store["config"]["port"])  # before a 1 s import
        from chromadb.api.shared_system_client import SharedSystemClient

        if _built_pid != os.getpid():
            # Chroma caches one client system per server, process-wide: never the parent's connections.
            SharedSystemClient.clear_system_cache()
            _built_pid = os.getpid()
    from mem0 import Memory

    settings.MEMORY_DIR.mkdir(parents=True, exist_ok=True)
    memory = Memory.from_config(json.loads(json.dumps(config)))  # Mem0 mutates what it is given
    _bound_clients(memory, llm_config())
    held = collection_size(memory, vector_store["provider"])
    embedding_size_check(answered=answered, asked=asked, held=held, collection=settings.MEMORY_COLLECTION)
    return memory


def mem0_memory() -> Any:
    """This process's Mem0 `Memory`, built on first use. ChatterError("unavailable") when it cannot be."""
    global _memory, _memory_key, _misfit
    config = mem0_config()
    key = json.dumps(config, sort_keys=True)
    with _lock:
        if _memory is not None and _memory_key == key:
            return _memory
        if _misfit is not None and _misfit[0] == key and time.monotonic() - _misfit[1] < MISFIT_RECHECK_SECONDS:
            raise _misfit[2]
        try:
            memory = _build(config)
        except EmbeddingSizeError as error:
            log.error("memory store refused: %s", error.message)
            _misfit = (key, time.monotonic(), error)
            raise
        except ChatterError:
            raise
        except Exception as exc:
            raise ChatterError("unavailable", f"cannot open the memory store: {_describe(exc, config)}") from exc
        _memory, _memory_key = memory, key
        return memory


def _describe(exc: BaseException, config: dict[str, Any] | None = None) -> str:
    """A safe one-line description: openai errors quote request bodies and keys, so only their type
    and status are kept; any other text is stripped of the API key."""
    status = getattr(exc, "status_code", None)
    if type(exc).__module__.startswith("openai"):
        return f"{type(exc).__name__}" + (f" (HTTP {status})" if status else "")
    text = f"{type(exc).__name__}: {exc}"[:300]
    key = (config or {}).get("embedder", {}).get("config", {}).get("api_key")
    return text.replace(key, "***") if key else text


def _mem0_call(what: str, call: Any) -> Any:
    memory = mem0_memory()
    try:
        return call(memory)
    except ChatterError:
        raise
    except Exception as exc:
        raise ChatterError("unavailable", f"memory store {what} failed: {_describe(exc, mem0_config())}") from exc


def _mem0_forget(mem0_ids: list[str]) -> list[str]:
    """Remove vectors; a vector already gone counts as removed. Returns the ids that failed."""
    failed = []
    for mem0_id in mem0_ids:
        if not mem0_id:
            continue
        try:
            _mem0_call("delete", lambda memory, mem0_id=mem0_id: memory.delete(mem0_id))
        except ChatterError as error:
            if isinstance(error.__cause__, ValueError) and "not found" in str(error.__cause__):
                continue
            log.warning("memory: could not remove %s from the vector store: %s", mem0_id, error.message)
            failed.append(mem0_id)
    return failed


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
        raise ChatterError("invalid", "memory_write needs a dedupe_key")
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
    Raises ChatterError("invalid") for a bad kind/confidence/key, ("unavailable") when Mem0 fails.
    """
    if kind not in MemoryItem.Kind.values:
        raise ChatterError("invalid", f"unknown memory kind {kind!r}")
    if confidence not in MemoryItem.Confidence.values:
        raise ChatterError("invalid", f"unknown confidence {confidence!r}")
    key = _dedupe_key(dedupe_key)
    existing = MemoryItem.objects.filter(dedupe_key=key).first()
    if existing is not None:
        WRITES.labels(outcome="duplicate").inc()
        return existing
    clean, refusal = memory_text_refusal(text)
    if refusal:
        WRITES.labels(outcome="refused").inc()
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
        added = _mem0_call("add", lambda memory: memory.add(clean, user_id=scope, metadata=metadata, infer=False))
    finally:
        WRITE_SECONDS.observe(time.perf_counter() - started)
    mem0_id = next((r["id"] for r in added.get("results", []) if r.get("event") == "ADD"), "")
    if not mem0_id:
        raise ChatterError("unavailable", "the memory store stored nothing")

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
        _mem0_forget([mem0_id])
        WRITES.labels(outcome="duplicate").inc()
        return MemoryItem.objects.get(dedupe_key=key)
    if replaced:
        # After commit: if the caller's transaction rolls back, the old memories stay current.
        transaction.on_commit(lambda: _mem0_forget(replaced))
    WRITES.labels(outcome="stored").inc()
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
    ledger) and leaves the vector store. Raises ChatterError("unavailable") when the vector store
    could not be reached; deleting again retries the removal."""
    MemoryItem.objects.filter(pk=item.pk).update(status=MemoryItem.Status.DELETED, updated_at=timezone.now())
    item.status = MemoryItem.Status.DELETED
    failed = _mem0_forget([item.mem0_id])
    if failed:
        raise ChatterError("unavailable", "marked deleted, but the vector store did not remove it yet: delete it again later")
    return item


def memory_moderator_edit(*, item: MemoryItem, text: str) -> MemoryItem:
    """A moderator rewrites a memory: a new memory with their text (same persona, room, kind and
    subject, high confidence) replaces it, and the old one stays in the ledger as superseded and
    leaves the vector store, so the persona recalls only the moderator's version. The text passes
    the same hygiene as any memory (no personal data, links or instructions)."""
    if item.status != MemoryItem.Status.ACTIVE:
        raise ChatterError("invalid", f"only an active memory can be edited (this one is {item.status})")
    text = (text or "").strip()
    if not text:
        raise ChatterError("invalid", "a memory cannot be empty")
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    new = memory_write(
        room_slug=item.room_slug, handle=item.handle, kind=item.kind, text=text, other_user=item.other_user,
        subject=item.subject, confidence=MemoryItem.Confidence.HIGH, dedupe_key=f"moderator-edit:{item.pk}:{digest}",
    )
    if new is None:
        raise ChatterError("invalid", "the text was refused: memories hold no personal data, links or instructions")
    if new.pk != item.pk:
        MemoryItem.objects.filter(pk=item.pk, status=MemoryItem.Status.ACTIVE).update(
            status=MemoryItem.Status.SUPERSEDED, superseded_by=new, updated_at=timezone.now()
        )
        _mem0_forget([item.mem0_id])
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
            _mem0_forget([mem0_id])
    return faded


# --- reads ------------------------------------------------------------------------------------------


def _search_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="memory-search")
        return _pool


def _mem0_hits(*, scope: str, query: str, top_k: int, kinds: list[str] | None) -> list[dict[str, Any]]:
    filters: dict[str, Any] = {"user_id": scope}
    if kinds:
        filters["type"] = {"in": list(kinds)}
    found = _mem0_call("search", lambda memory: memory.search(query, filters=filters, top_k=top_k))
    return list(found.get("results", []))


def _mem0_hits_bounded(*, timeout: float, **search: Any) -> list[dict[str, Any]]:
    slots = _pool_slots
    if not slots.acquire(blocking=False):
        raise SearchBusy("unavailable", "memory search is busy: every search thread is waiting on the store")
    try:
        future: Future[list[dict[str, Any]]] = _search_pool().submit(_mem0_hits, **search)
    except BaseException:
        slots.release()
        raise
    future.add_done_callback(lambda _: slots.release())
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise SearchTimeout("unavailable", f"memory search took longer than {timeout:.2f}s") from None


def memory_search(
    *, room_slug: str, handle: str, query: str, k: int, kinds: list[str] | None = None, timeout: float | None = None
) -> list[MemoryHit]:
    """The `k` ACTIVE memories of this persona in this room closest to `query`, best first.

    Only the persona's own scope is searched. Marks the returned memories used (a running joke in
    use does not fade). With `timeout`, the Mem0 part (embedding + vector search) runs on a shared
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
    search = {"scope": scope, "query": query[:1000], "top_k": k + SEARCH_OVERFETCH, "kinds": kinds}
    hits = _mem0_hits_bounded(timeout=timeout, **search) if timeout is not None else _mem0_hits(**search)
    scores = {hit["id"]: hit.get("score") for hit in hits if hit.get("id")}
    if not scores:
        return []
    items = remembered.filter(mem0_id__in=list(scores))
    by_mem0 = {item.mem0_id: item for item in items}
    ranked = [by_mem0[mem0_id] for mem0_id in scores if mem0_id in by_mem0][:k]
    if not ranked:
        return []
    now = timezone.now()
    MemoryItem.objects.filter(id__in=[item.id for item in ranked]).update(last_used_at=now)
    return [
        MemoryHit(
            id=item.id, mem0_id=item.mem0_id, kind=item.kind, text=item.text, other_user=item.other_user,
            subject=item.subject, confidence=item.confidence, score=scores[item.mem0_id], created_at=item.created_at,
            last_used_at=now,
        )
        for item in ranked
    ]

