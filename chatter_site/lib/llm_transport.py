"""The transport under chatter_site.lib.llm: where calls go, one openai client per endpoint, the
per-process concurrency cap, bounded retries and the record of failed calls. Callers import
chatter_site.lib.llm; see docs/architecture.md, "Inside the parts" › chatter_site/lib/llm.py.
"""
from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlparse

import openai
from django.conf import settings
from openai.types.chat import ChatCompletion

from chatter_site.lib.correlation import current_correlation_id
from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.metrics import counter, gauge, histogram
from chatter_site.lib.redis import redis_client

log = logging.getLogger("chatter.llm")

LLM_SECONDS = histogram("chatter_llm_seconds", "Wall time of one LLM call, waiting and retries included", ("purpose",))
LLM_CALLS = counter("chatter_llm_calls_total", "LLM calls by purpose and outcome", ("purpose", "outcome"))
LLM_INFLIGHT = gauge("chatter_llm_inflight", "LLM requests in flight")
FAILURES_KEY = "chatter:llm:failures"
FAILURES_KEPT = 200

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
OFFLINE_API_KEY = "offline"
# Local servers without authentication still get a key: the openai client refuses to start without one.
PLACEHOLDER_API_KEY = "unused"
RETRY_BASE_DELAY = 0.2
RETRY_MAX_DELAY = 2.0
RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
NO_ENDPOINT = (
    "no LLM endpoint: set OPENAI_BASE_URL (and OPENAI_API_KEY) to an OpenAI-compatible server, "
    "or start `python manage.py runchatter`, which runs the offline provider"
)

T = TypeVar("T")
Sender = Callable[[openai.OpenAI, float, dict[str, str]], Any]  # (client, attempt timeout, headers) -> answer


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str
    offline: bool

    @property
    def host(self) -> str:
        return urlparse(self.base_url).netloc or self.base_url


class LLMCallError(ChatterError):
    """A failed call; `outcome` is its metrics label (timeout | error | invalid | busy)."""

    def __init__(self, code: ErrorCode | str, message: str, *, outcome: str) -> None:
        super().__init__(code, message)
        self.outcome = outcome


class AttemptFailure(Exception):
    """One attempt went wrong; `outcome` is the metrics label, `message` safe to show (no key, no body)."""

    def __init__(self, outcome: str, message: str, *, retryable: bool, code: ErrorCode = ErrorCode.UNAVAILABLE) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.retryable = retryable
        self.code = code


# --- where calls go ----------------------------------------------------------------------------


def llm_endpoint() -> Endpoint:
    """Where LLM calls go now; ChatterError(ErrorCode.UNAVAILABLE) when nothing is configured or running."""
    if settings.LLM_OFFLINE:
        if not settings.OPENAI_BASE_URL:  # no runner was running when this process read its settings
            raise ChatterError(ErrorCode.UNAVAILABLE, NO_ENDPOINT)
        return Endpoint(base_url=settings.OPENAI_BASE_URL, api_key=OFFLINE_API_KEY, offline=True)
    if not (settings.OPENAI_BASE_URL or settings.OPENAI_API_KEY):
        raise ChatterError(ErrorCode.UNAVAILABLE, NO_ENDPOINT)
    return Endpoint(
        base_url=settings.OPENAI_BASE_URL or OPENAI_DEFAULT_BASE_URL,
        api_key=settings.OPENAI_API_KEY or PLACEHOLDER_API_KEY,
        offline=False,
    )


def llm_embed_endpoint() -> Endpoint:
    """Where embeddings go: CHATTER_EMBED_BASE_URL when set (llama.cpp serves them from a second
    instance started with --embeddings), else the chat endpoint."""
    endpoint = llm_endpoint()
    if settings.CHATTER_EMBED_BASE_URL and not endpoint.offline:
        return Endpoint(base_url=settings.CHATTER_EMBED_BASE_URL, api_key=endpoint.api_key, offline=False)
    return endpoint


# --- per-process state: one client, one concurrency cap (both rebuilt after fork) ------------------

_state_lock = threading.Lock()
_clients: dict[tuple[Any, ...], openai.OpenAI] = {}
_slots: threading.BoundedSemaphore | None = None
_slots_key: tuple[int, int] | None = None


def _reset_after_fork() -> None:
    # A Celery prefork child inherits the parent's clients (with their connection pools) and a lock
    # that may have been held at fork time: start from nothing instead.
    global _state_lock, _clients, _slots, _slots_key
    _state_lock = threading.Lock()
    _clients, _slots, _slots_key = {}, None, None


os.register_at_fork(after_in_child=_reset_after_fork)


def _openai_client(endpoint: Endpoint) -> openai.OpenAI:
    """One client per endpoint (chat, and embeddings when they live elsewhere) in this process."""
    key = (os.getpid(), endpoint.base_url, endpoint.api_key, settings.CHATTER_LLM_TIMEOUT)
    with _state_lock:
        client = _clients.get(key)
        if client is None:
            if len(_clients) > 8:  # settings changed many times (tests): drop the old clients
                _clients.clear()
            client = _clients[key] = openai.OpenAI(
                api_key=endpoint.api_key,
                base_url=endpoint.base_url,
                timeout=settings.CHATTER_LLM_TIMEOUT,
                max_retries=0,  # retries happen in llm_call, within a budget (docs/architecture.md)
            )
        return client


def _concurrency_slots() -> threading.BoundedSemaphore:
    global _slots, _slots_key
    key = (os.getpid(), settings.CHATTER_LLM_CONCURRENCY)
    with _state_lock:
        if _slots is None or _slots_key != key:
            _slots = threading.BoundedSemaphore(settings.CHATTER_LLM_CONCURRENCY)
            _slots_key = key
        return _slots


# --- the call ------------------------------------------------------------------------------------


def llm_call(
    *,
    purpose: str,
    timeout: float | None,
    metadata: dict | None,
    send: Sender,
    parse: Callable[[Any], T],
    embeddings: bool = False,
) -> T:
    """Send with bounded retries under the concurrency cap; parse the answer; count what happened."""
    per_attempt = float(timeout if timeout is not None else settings.CHATTER_LLM_TIMEOUT)
    attempts = settings.CHATTER_LLM_MAX_RETRIES + 1
    started = time.monotonic()
    deadline = started + per_attempt * attempts
    endpoint = llm_embed_endpoint() if embeddings else llm_endpoint()
    client = _openai_client(endpoint)
    headers = {"X-Correlation-Id": corr} if (corr := current_correlation_id()) else {}
    slots = _concurrency_slots()
    if not slots.acquire(timeout=per_attempt):
        LLM_CALLS.labels(purpose=purpose, outcome="busy").inc()
        log.warning("llm busy purpose=%s cap=%s", purpose, settings.CHATTER_LLM_CONCURRENCY)
        _failure_record(purpose=purpose, outcome="busy", message="LLM busy", endpoint=endpoint.host)
        raise LLMCallError(ErrorCode.UNAVAILABLE, "LLM busy", outcome="busy")
    LLM_INFLIGHT.inc()
    try:
        failure: AttemptFailure | None = None
        for attempt in range(attempts):
            remaining = deadline - time.monotonic()
            if remaining < 0.05:
                break
            try:
                result = parse(_attempt(send, client, min(per_attempt, remaining), headers))
            except AttemptFailure as exc:
                failure = exc
                LLM_CALLS.labels(purpose=purpose, outcome=exc.outcome).inc()
                if not exc.retryable or attempt == attempts - 1:
                    break
                # Backoff with jitter, kept small against the attempt timeout so the retry still fits.
                delay = min(RETRY_BASE_DELAY * 2**attempt, RETRY_MAX_DELAY, per_attempt / 4) * (0.5 + random.random() / 2)
                if deadline - time.monotonic() - delay < 0.05:
                    break
                time.sleep(delay)
                continue
            LLM_CALLS.labels(purpose=purpose, outcome="ok").inc()
            return result
        if failure is None:  # the wait for a slot used up the budget before any request went out
            failure = AttemptFailure("busy", "LLM busy", retryable=False)
            LLM_CALLS.labels(purpose=purpose, outcome="busy").inc()
        log.warning(
            "llm failed purpose=%s outcome=%s endpoint=%s seconds=%.2f reason=%r meta=%s",
            purpose, failure.outcome, endpoint.host, time.monotonic() - started, failure.message, metadata or {},
        )
        _failure_record(purpose=purpose, outcome=failure.outcome, message=failure.message, endpoint=endpoint.host)
        raise LLMCallError(failure.code, failure.message, outcome=failure.outcome)
    finally:
        LLM_INFLIGHT.dec()
        slots.release()
        LLM_SECONDS.labels(purpose=purpose).observe(time.monotonic() - started)


def _attempt(send: Sender, client: openai.OpenAI, timeout: float, headers: dict[str, str]) -> Any:
    try:
        return send(client, timeout, headers)
    except openai.APITimeoutError:
        raise AttemptFailure("timeout", f"LLM timed out after {timeout:.1f}s", retryable=True) from None
    except openai.APIConnectionError:
        raise AttemptFailure("error", "LLM endpoint unreachable", retryable=True) from None
    except openai.APIStatusError as exc:
        # The body may quote the key back ("Incorrect API key provided: sk-..."): status only.
        status = exc.status_code
        raise AttemptFailure("error", f"LLM endpoint answered HTTP {status}", retryable=status in RETRYABLE_STATUS) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        # A 200 whose body is not the JSON it should be (the client raises while decoding it).
        raise AttemptFailure("invalid", f"LLM endpoint sent a malformed answer ({type(exc).__name__})", retryable=False) from None


def completion_text(completion: Any) -> str:
    if not isinstance(completion, ChatCompletion):  # the client hands back raw text for non-JSON bodies
        raise AttemptFailure("invalid", "LLM endpoint sent a non-JSON answer", retryable=False)
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise AttemptFailure("invalid", "LLM endpoint sent an answer without choices", retryable=False) from None
    if not isinstance(content, str) or not content.strip():
        raise AttemptFailure("invalid", "LLM endpoint sent an empty answer", retryable=False)
    return content.strip()


def llm_failures_recent(*, limit: int = 50) -> list[dict[str, Any]]:
    """The latest failed calls, newest first: time, purpose, outcome, endpoint host, a safe reason."""
    try:
        raw = redis_client().lrange(FAILURES_KEY, 0, max(0, limit - 1))
    except Exception:
        return []
    out = []
    for item in raw:
        try:
            out.append(json.loads(item))
        except ValueError:
            continue
    return out



def _failure_record(*, purpose: str, outcome: str, message: str, endpoint: str) -> None:
    # Best effort: the admin's view of recent failures must never make a call fail or wait.
    try:
        entry = json.dumps({"at": time.time(), "purpose": purpose, "outcome": outcome, "endpoint": endpoint, "reason": message[:300]})
        pipe = redis_client().pipeline()
        pipe.lpush(FAILURES_KEY, entry)
        pipe.ltrim(FAILURES_KEY, 0, FAILURES_KEPT - 1)
        pipe.execute()
    except Exception:
        log.debug("llm failure not recorded in Redis", exc_info=True)
