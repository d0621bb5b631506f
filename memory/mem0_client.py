"""The process-wide Mem0 client: its configuration, one instance per process (rebuilt after fork
and when the configuration changes), bounded HTTP clients, the search thread pool and the vector
size probe. docs/architecture.md, "Memory", says who holds what and which vector stores work.

Every Mem0 failure surfaces as ChatterError(ErrorCode.UNAVAILABLE); messages never carry the API key.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import Future, ThreadPoolExecutor, TimeoutError as FutureTimeout
from typing import Any
from urllib.parse import urlparse

import httpx
from celery.signals import worker_before_create_process
from django.conf import settings

from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.llm import llm_config, llm_embed

log = logging.getLogger("chatter.memory")

HISTORY_DB_NAME = "history.db"
# Bounds on one request to the vector store and on the probe before Mem0 is built: the Chroma
# client waits forever by default, and a stuck request would pin a search thread for good.
STORE_REQUEST_TIMEOUT = 10.0
STORE_PROBE_TIMEOUT = 2.0
# Search threads shared by every fast-path caller of this process; more callers than this at
# once are turned away ("busy") instead of queueing behind a slow store.
SEARCH_THREADS = 4
EMBED_PROBE_TEXT = "what size are your vectors"  # embedded once per process before Mem0 is built

NOT_CONFIGURED = (
    "no vector store for memories: set CHATTER_VECTOR_STORE (chroma://host:port, qdrant://host:port "
    "or a postgres:// URL for pgvector), or start `python manage.py runchatter`, which runs a Chroma server"
)


class SearchTimeout(ChatterError):
    """A bounded search took longer than its timeout (it goes on in the background)."""


class SearchBusy(ChatterError):
    """Every search thread is still waiting on the store: turned away rather than queued."""


class EmbeddingSizeError(ChatterError):
    """The endpoint's vectors do not fit the settings or the collection: a configuration to fix."""

    def __init__(self, message: str) -> None:
        super().__init__(ErrorCode.UNAVAILABLE, message)


def embedding_size_check(*, answered: int, asked: int, held: int | None, collection: str) -> None:
    """EmbeddingSizeError saying what to set (CHATTER_EMBED_DIMS=0, a new CHATTER_MEMORY_COLLECTION) when the sizes disagree."""
    if asked and answered != asked:
        raise EmbeddingSizeError(
            f"the embedding endpoint answers {answered}-dimensional vectors although CHATTER_EMBED_DIMS={asked} was "
            f"asked (it ignores `dimensions`): set CHATTER_EMBED_DIMS=0 to use the model's own size"
            + (f", and a new CHATTER_MEMORY_COLLECTION: {collection!r} holds {held}-dimensional vectors" if held and held != answered else ""),
        )
    if held and held != answered:
        raise EmbeddingSizeError(
            f"the memory collection {collection!r} holds {held}-dimensional vectors but the embedding endpoint now "
            f"answers {answered}: set CHATTER_MEMORY_COLLECTION to a new collection name (the old memories stay in "
            f"{collection!r}; switch back to use them)",
        )


def embedding_size() -> int:
    """The size of the vectors the embedding endpoint answers (one probe text)."""
    # Through the LLM layer (bounded, counted); with CHATTER_EMBED_DIMS=0 it sends no `dimensions`.
    return len(llm_embed(texts=[EMBED_PROBE_TEXT], purpose="embed_probe")[0])


def collection_size(memory: Any, provider: str) -> int | None:
    """The size of the vectors the collection already holds (None: empty, or not knowable here)."""
    store = memory.vector_store
    try:
        if provider == "chroma":
            held = store.collection.get(limit=1, include=["embeddings"]).get("embeddings")
            return len(held[0]) if held is not None and len(held) else None
        if provider == "qdrant":
            vectors = store.client.get_collection(store.collection_name).config.params.vectors
            return int(getattr(vectors, "size", 0)) or None
    except Exception:  # an unreadable size is the store's own error to give, on first use
        log.warning("memory: could not read the vector size of the collection", exc_info=True)
    return None


# --- scope and configuration ------------------------------------------------------------------------


def scope_for(room_slug: str, handle: str) -> str:
    """The Mem0 user_id of a persona in a room: its memories are its own and this room's."""
    return f"room:{room_slug}|agent:{handle}"


def vector_store_url() -> str:
    url = settings.MEMORY_VECTOR_STORE_URL
    if not url:
        raise ChatterError(ErrorCode.UNAVAILABLE, NOT_CONFIGURED)
    return url


def _vector_store_config(url: str, *, collection: str, dims: int) -> dict[str, Any]:
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    try:
        port = parsed.port
    except ValueError:
        raise ChatterError(ErrorCode.INVALID, f"CHATTER_VECTOR_STORE has a bad port: {url!r}") from None
    if scheme == "chroma":
        if not parsed.hostname:
            raise ChatterError(ErrorCode.INVALID, f"CHATTER_VECTOR_STORE needs chroma://host:port, got {url!r}")
        return {"provider": "chroma", "config": {"host": parsed.hostname, "port": port or 8000, "collection_name": collection}}
    if scheme == "qdrant":
        if not parsed.hostname:
            raise ChatterError(ErrorCode.INVALID, f"CHATTER_VECTOR_STORE needs qdrant://host:port, got {url!r}")
        return {
            "provider": "qdrant",
            "config": {"host": parsed.hostname, "port": port or 6333, "collection_name": collection, "embedding_model_dims": dims},
        }
    if scheme in ("postgres", "postgresql"):
        return {
            "provider": "pgvector",
            "config": {"connection_string": url, "collection_name": collection, "embedding_model_dims": dims},
        }
    raise ChatterError(ErrorCode.INVALID, f"CHATTER_VECTOR_STORE must be chroma://, qdrant:// or postgres://, got {parsed.scheme or url!r}")


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
            raise ChatterError(ErrorCode.UNAVAILABLE, f"the Chroma server at {host}:{port} answered HTTP {exc.code}") from None
        except OSError as exc:
            raise ChatterError(ErrorCode.UNAVAILABLE, f"the Chroma server at {host}:{port} does not answer: {exc}") from None
    raise ChatterError(ErrorCode.UNAVAILABLE, f"{host}:{port} does not look like a Chroma server")


def _bound_clients(memory: Any, llm: dict[str, Any]) -> None:
    """Give Mem0's HTTP clients timeouts: the openai clients would retry for minutes, Chroma's
    client waits forever. Attributes are looked up defensively: they are Mem0's and Chroma's."""
    for component in (getattr(memory, "embedding_model", None), getattr(memory, "llm", None)):
        client = getattr(component, "client", None)
        if component is not None and client is not None and hasattr(client, "with_options"):
            component.client = client.with_options(timeout=llm["timeout"], max_retries=llm["max_retries"])
    session = getattr(getattr(getattr(memory.vector_store, "client", None), "_server", None), "_session", None)
    if session is not None:
        session.timeout = httpx.Timeout(STORE_REQUEST_TIMEOUT, connect=STORE_PROBE_TIMEOUT)


def _build(config: dict[str, Any]) -> Any:
    global _built_pid
    answered = embedding_size()
    asked = settings.CHATTER_EMBED_DIMS
    embedding_size_check(answered=answered, asked=asked, held=None, collection=settings.MEMORY_COLLECTION)
    config = mem0_config(vector_dims=answered)
    vector_store = config["vector_store"]
    chroma = vector_store["provider"] == "chroma"
    if chroma:
        _probe_chroma(vector_store["config"]["host"], vector_store["config"]["port"])  # before a 1 s import
    Memory, SharedSystemClient = _mem0_modules()
    if chroma and _built_pid != os.getpid():
        # Chroma caches one client system per server, process-wide: never the parent's connections.
        SharedSystemClient.clear_system_cache()
        _built_pid = os.getpid()

    settings.MEMORY_DIR.mkdir(parents=True, exist_ok=True)
    memory = Memory.from_config(json.loads(json.dumps(config)))  # Mem0 mutates what it is given
    _bound_clients(memory, llm_config())
    held = collection_size(memory, vector_store["provider"])
    embedding_size_check(answered=answered, asked=asked, held=held, collection=settings.MEMORY_COLLECTION)
    return memory


def _mem0_modules() -> tuple[Any, Any]:
    """Mem0's `Memory` and Chroma's `SharedSystemClient`, imported on first use: about a second and
    70 MB that a process which never opens the memory store (Daphne, beat) does not pay."""
    from chromadb.api.shared_system_client import SharedSystemClient
    from mem0 import Memory

    return Memory, SharedSystemClient


def _preload_before_fork(**_signal: Any) -> None:
    # A Celery worker imports them before it forks its pool: the children share those pages and
    # none pays the import on its first memory job (a cold child's RSS would grow by it mid-run).
    _mem0_modules()


worker_before_create_process.connect(_preload_before_fork, weak=False, dispatch_uid="memory-mem0-preload")


def mem0_memory() -> Any:
    """This process's Mem0 `Memory`, built on first use. ChatterError(ErrorCode.UNAVAILABLE) when it cannot be."""
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
            raise ChatterError(ErrorCode.UNAVAILABLE, f"cannot open the memory store: {_describe(exc, config)}") from exc
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


def mem0_call(what: str, call: Any) -> Any:
    memory = mem0_memory()
    try:
        return call(memory)
    except ChatterError:
        raise
    except Exception as exc:
        raise ChatterError(ErrorCode.UNAVAILABLE, f"memory store {what} failed: {_describe(exc, mem0_config())}") from exc


def mem0_forget(mem0_ids: list[str]) -> list[str]:
    """Remove vectors; a vector already gone counts as removed. Returns the ids that failed."""
    failed = []
    for mem0_id in mem0_ids:
        if not mem0_id:
            continue
        try:
            mem0_call("delete", lambda memory, mem0_id=mem0_id: memory.delete(mem0_id))
        except ChatterError as error:
            if isinstance(error.__cause__, ValueError) and "not found" in str(error.__cause__):
                continue
            log.warning("memory: could not remove %s from the vector store: %s", mem0_id, error.message)
            failed.append(mem0_id)
    return failed



def _search_pool() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=SEARCH_THREADS, thread_name_prefix="memory-search")
        return _pool


def mem0_hits(*, scope: str, query: str, top_k: int, kinds: list[str] | None) -> list[dict[str, Any]]:
    filters: dict[str, Any] = {"user_id": scope}
    if kinds:
        filters["type"] = {"in": list(kinds)}
    found = mem0_call("search", lambda memory: memory.search(query, filters=filters, top_k=top_k))
    return list(found.get("results", []))


def mem0_hits_bounded(*, timeout: float, **search: Any) -> list[dict[str, Any]]:
    slots = _pool_slots
    if not slots.acquire(blocking=False):
        raise SearchBusy(ErrorCode.UNAVAILABLE, "memory search is busy: every search thread is waiting on the store")
    try:
        future: Future[list[dict[str, Any]]] = _search_pool().submit(mem0_hits, **search)
    except BaseException:
        slots.release()
        raise
    future.add_done_callback(lambda _: slots.release())
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        raise SearchTimeout(ErrorCode.UNAVAILABLE, f"memory search took longer than {timeout:.2f}s") from None
