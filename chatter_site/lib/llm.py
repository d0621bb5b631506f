"""The LLM layer every app uses: the official openai client against any OpenAI-compatible endpoint.

Where it points (settings, "LLM" block): OPENAI_BASE_URL and/or OPENAI_API_KEY when either is set
(OpenAI, vLLM, Ollama, LM Studio, ...); otherwise the offline provider that `runchatter` starts
(chatter_site.lib.offline_llm), whose address the runner records in the runtime directory. Both
paths run this very module and the same openai client; only the server differs.

What it guarantees callers (persona workers, reflection jobs, Mem0 through llm_config()):
- every failure is a ChatterError: "unavailable" for a slow, failing, unreachable or junk-answering
  endpoint (a persona then stays quiet; the room goes on), "invalid" for JSON that never matched
  the schema, even after one re-ask;
- a call never takes longer than timeout x (CHATTER_LLM_MAX_RETRIES + 1), waiting for a slot of
  the per-process concurrency cap (CHATTER_LLM_CONCURRENCY) included;
- JSON (llm_json) is asked as structured outputs first, then JSON mode, then plain text, as far as
  the endpoint accepts, and read back tolerantly (chatter_site.lib.llm_formats); then validated;
- metrics: chatter_llm_seconds{purpose}, chatter_llm_calls_total{purpose,outcome} (one count per
  request sent or refused: ok | timeout | error | invalid | busy), chatter_llm_results_total
  {purpose,result} (one per llm_chat/llm_json call, whatever it took), chatter_llm_json_answers_total
  {purpose,format,repaired}, chatter_llm_format_fallbacks_total{purpose,from_format,to_format,reason},
  chatter_llm_answers_refused_total{purpose,reason} (counted by callers whose checks refuse an
  answer: llm_answer_refused), chatter_llm_inflight. Every failed call is also kept, without body or
  key, in a short Redis list the admin's LLM page shows (llm_failures_recent).

Retries are done here, not by the openai client (it is built with max_retries=0): the client
honours Retry-After for up to two minutes, which would park a persona worker far past the moment
its line was for. Here a retry happens only while the call's time budget lasts.
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
import pydantic
from django.conf import settings
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion

from chatter_site.lib.correlation import current_correlation_id
from chatter_site.lib.errors import ChatterError, ErrorCode, validation_summary
from chatter_site.lib.llm_formats import FORMATS, json_extract, json_sender
from chatter_site.lib.metrics import counter, gauge, histogram
from chatter_site.lib.redis import redis_client

log = logging.getLogger("chatter.llm")

LLM_SECONDS = histogram("chatter_llm_seconds", "Wall time of one LLM call, waiting and retries included", ("purpose",))
LLM_CALLS = counter("chatter_llm_calls_total", "LLM calls by purpose and outcome", ("purpose", "outcome"))
LLM_INFLIGHT = gauge("chatter_llm_inflight", "LLM requests in flight")
LLM_RESULTS = counter("chatter_llm_results_total", "llm_chat/llm_json calls by purpose and final result", ("purpose", "result"))
LLM_JSON_ANSWERS = counter(
    "chatter_llm_json_answers_total", "Schema-valid JSON answers by the format that produced them", ("purpose", "format", "repaired")
)
LLM_REFUSED = counter("chatter_llm_answers_refused_total", "Answers the caller's checks refused", ("purpose", "reason"))
FAILURES_KEY = "chatter:llm:failures"
FAILURES_KEPT = 200

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
OFFLINE_API_KEY = "offline"
# Local servers without authentication still get a key: the openai client refuses to start without one.
PLACEHOLDER_API_KEY = "unused"
RETRY_BASE_DELAY = 0.2
RETRY_MAX_DELAY = 2.0
RETRYABLE_STATUS = frozenset({408, 409, 429}) | frozenset(range(500, 600))
SCHEMA_INSTRUCTION = "Reply with one JSON object that matches this JSON schema, and nothing else."
NO_ENDPOINT = (
    "no LLM endpoint: set OPENAI_BASE_URL (and OPENAI_API_KEY) to an OpenAI-compatible server, "
    "or start `python manage.py runchatter`, which runs the offline provider"
)

M = TypeVar("M", bound=pydantic.BaseModel)
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


class _Failure(Exception):
    """One attempt went wrong; `outcome` is the metrics label, `message` safe to show (no key, no body)."""

    def __init__(self, outcome: str, message: str, *, retryable: bool, code: ErrorCode = ErrorCode.UNAVAILABLE) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.message = message
        self.retryable = retryable
        self.code = code


# --- configuration -------------------------------------------------------------------------------


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


def llm_config() -> dict[str, Any]:
    """What other libraries (Mem0's "openai" LLM and embedder) need to reach the same endpoint.

    Holds the API key: pass it on, never log it.
    """
    endpoint = llm_endpoint()
    return {
        "base_url": endpoint.base_url,
        "embed_base_url": llm_embed_endpoint().base_url,
        "api_key": endpoint.api_key,
        "model": settings.CHATTER_LLM_MODEL,
        "embed_model": settings.CHATTER_EMBED_MODEL,
        "embed_dims": settings.CHATTER_EMBED_DIMS,
        "timeout": settings.CHATTER_LLM_TIMEOUT,
        "max_retries": settings.CHATTER_LLM_MAX_RETRIES,
        "offline": endpoint.offline,
    }


def prompt_block(*, name: str, data: Any) -> str:
    """A machine-readable prompt block (`<<name>>`, one JSON value, `<</name>>`, each on its own line).

    The offline provider reads persona-card, stream, chat, reply-to and json-schema blocks; real
    models read them as plain JSON. json.dumps escapes newlines, so text written by a viewer can
    never put a tag line of its own into the prompt.
    """
    return f"<<{name}>>\n{json.dumps(data, ensure_ascii=False)}\n<</{name}>>"


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
                max_retries=0,  # see the module docstring: retries happen in _call, within a budget
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


def _call(
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
        failure: _Failure | None = None
        for attempt in range(attempts):
            remaining = deadline - time.monotonic()
            if remaining < 0.05:
                break
            try:
                result = parse(_attempt(send, client, min(per_attempt, remaining), headers))
            except _Failure as exc:
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
            failure = _Failure("busy", "LLM busy", retryable=False)
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
        raise _Failure("timeout", f"LLM timed out after {timeout:.1f}s", retryable=True) from None
    except openai.APIConnectionError:
        raise _Failure("error", "LLM endpoint unreachable", retryable=True) from None
    except openai.APIStatusError as exc:
        # The body may quote the key back ("Incorrect API key provided: sk-..."): status only.
        status = exc.status_code
        raise _Failure("error", f"LLM endpoint answered HTTP {status}", retryable=status in RETRYABLE_STATUS) from None
    except (ValueError, TypeError, AttributeError, KeyError, IndexError) as exc:
        # A 200 whose body is not the JSON it should be (the client raises while decoding it).
        raise _Failure("invalid", f"LLM endpoint sent a malformed answer ({type(exc).__name__})", retryable=False) from None


def _content(completion: Any) -> str:
    if not isinstance(completion, ChatCompletion):  # the client hands back raw text for non-JSON bodies
        raise _Failure("invalid", "LLM endpoint sent a non-JSON answer", retryable=False)
    try:
        content = completion.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        raise _Failure("invalid", "LLM endpoint sent an answer without choices", retryable=False) from None
    if not isinstance(content, str) or not content.strip():
        raise _Failure("invalid", "LLM endpoint sent an empty answer", retryable=False)
    return content.strip()


# --- the API -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChatAnswer:
    text: str
    finish_reason: str  # "stop", or "length" when max_tokens cut the answer short


def llm_chat(
    *,
    messages: list[dict],
    temperature: float = 0.8,
    max_tokens: int = 80,
    timeout: float | None = None,
    purpose: str = "chat",
    metadata: dict | None = None,
) -> str:
    """One chat completion's text. `metadata` (persona, room, ...) only goes to the logs."""
    return llm_chat_answer(
        messages=messages, temperature=temperature, max_tokens=max_tokens, timeout=timeout, purpose=purpose, metadata=metadata
    ).text


def llm_chat_answer(
    *,
    messages: list[dict],
    temperature: float = 0.8,
    max_tokens: int = 80,
    timeout: float | None = None,
    purpose: str = "chat",
    metadata: dict | None = None,
) -> ChatAnswer:
    """llm_chat, also saying whether the answer was cut at max_tokens (a document must not be)."""

    def parse(completion: Any) -> ChatAnswer:
        text = _content(completion)
        reason = getattr(completion.choices[0], "finish_reason", None) or "stop"
        return ChatAnswer(text=text, finish_reason=str(reason))

    with _result_counted(purpose):
        return _call(
            purpose=purpose,
            timeout=timeout,
            metadata=metadata,
            send=_chat_sender(messages=messages, temperature=temperature, max_tokens=max_tokens),
            parse=parse,
        )


def llm_json(
    *,
    messages: list[dict],
    schema: type[M],
    temperature: float = 0.2,
    max_tokens: int = 600,
    timeout: float | None = None,
    purpose: str = "json",
    metadata: dict | None = None,
) -> M:
    """A JSON answer validated against `schema`; one re-ask on invalid JSON (none for an answer cut at
    max_tokens), then "invalid".

    Asked in the best format the endpoint accepts (structured outputs, JSON mode, plain text; see
    chatter_site.lib.llm_formats), read back tolerantly (fences, preambles, trailing commas)."""
    prompt = _with_schema(messages, schema)
    answers: list[str] = []
    formats_used: list[str] = []
    cut_short: list[bool] = []

    def parse(completion: Any) -> M:
        content = _content(completion)
        answers.append(content)
        try:
            text, repaired = json_extract(content)
            value = schema.model_validate_json(text)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError too
            if getattr(completion.choices[0], "finish_reason", None) == "length":
                # Cut at max_tokens: asking again would be cut again, at the same cost.
                cut_short.append(True)
                message = f"LLM answer for {schema.__name__} was cut at max_tokens ({max_tokens})"
            elif isinstance(exc, pydantic.ValidationError):
                message = f"LLM answer does not match {schema.__name__}: {validation_summary(exc, root='(root)')}"
            else:
                message = f"LLM answer holds no JSON object for {schema.__name__}"
            raise _Failure("invalid", message, retryable=False, code=ErrorCode.INVALID) from None
        fmt = formats_used[-1] if formats_used else "unknown"
        LLM_JSON_ANSWERS.labels(purpose=purpose, format=fmt, repaired=str(repaired).lower()).inc()
        return value

    def ask(conversation: list[dict]) -> M:
        return _call(
            purpose=purpose,
            timeout=timeout,
            metadata=metadata,
            send=json_sender(
                messages=conversation, schema=schema, temperature=temperature, max_tokens=max_tokens,
                purpose=purpose, formats_used=formats_used,
            ),
            parse=parse,
        )

    with _result_counted(purpose):
        try:
            return ask(prompt)
        except ChatterError as exc:
            if exc.code != ErrorCode.INVALID or not answers or cut_short:
                raise
            reask = [
                *prompt,
                {"role": "assistant", "content": answers[-1][:4000]},
                {"role": "user", "content": f"That was not valid: {exc.message}. Reply with only the corrected JSON object."},
            ]
            return ask(reask)


def llm_embed(*, texts: list[str], timeout: float | None = None, purpose: str = "embed") -> list[list[float]]:
    """One embedding per text, in order. CHATTER_EMBED_DIMS asks for that size (`dimensions`); 0 sends
    no `dimensions` and takes whatever size the model gives (the same for every text, or "invalid")."""
    if not texts:
        return []
    dims = settings.CHATTER_EMBED_DIMS

    def send(client: openai.OpenAI, attempt_timeout: float, headers: dict[str, str]) -> Any:
        options: dict[str, Any] = {"dimensions": dims} if dims else {}
        return client.embeddings.create(
            model=settings.CHATTER_EMBED_MODEL,
            input=texts,
            timeout=attempt_timeout,
            extra_headers=headers,
            **options,
        )

    def parse(response: Any) -> list[list[float]]:
        if not isinstance(response, CreateEmbeddingResponse):
            raise _Failure("invalid", "LLM endpoint sent a non-JSON answer", retryable=False)
        try:
            vectors = [list(map(float, item.embedding)) for item in sorted(response.data, key=lambda item: item.index)]
        except (AttributeError, TypeError, ValueError):
            raise _Failure("invalid", "LLM endpoint sent malformed embeddings", retryable=False) from None
        if len(vectors) != len(texts) or any(not vector for vector in vectors):
            raise _Failure("invalid", f"LLM endpoint sent {len(vectors)} embeddings for {len(texts)} texts", retryable=False)
        if len({len(vector) for vector in vectors}) != 1:
            raise _Failure("invalid", "LLM endpoint sent embeddings of different sizes", retryable=False)
        return vectors

    with _result_counted(purpose):
        return _call(purpose=purpose, timeout=timeout, metadata=None, send=send, parse=parse, embeddings=True)


def llm_answer_refused(*, purpose: str, reason: str) -> None:
    """Count an answer the caller's own checks refused (a persona line that fails pre-send checks,
    a scribe document that lost its content): the call worked, its result is not usable."""
    LLM_REFUSED.labels(purpose=purpose, reason=reason).inc()


def llm_json_formats_known() -> dict[str, dict[str, Any]]:
    """Endpoint ("base_url|model") -> {"format", "at"} for every endpoint found refusing a format."""
    return FORMATS.known()


def llm_json_formats_forget() -> None:
    """Ask every endpoint for structured outputs again (after an upgrade; tests)."""
    FORMATS.forget()


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


# --- helpers -------------------------------------------------------------------------------------


class _result_counted:
    """Counts one result per API call: ok, or the outcome of the LLMCallError that ended it."""

    def __init__(self, purpose: str) -> None:
        self.purpose = purpose

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is None:
            result = "ok"
        elif isinstance(exc, LLMCallError):
            result = exc.outcome
        elif isinstance(exc, ChatterError):
            result = exc.code
        else:
            result = "crash"
        LLM_RESULTS.labels(purpose=self.purpose, result=result).inc()
        return False


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


def _chat_sender(*, messages: list[dict], temperature: float, max_tokens: int) -> Sender:
    def send(client: openai.OpenAI, attempt_timeout: float, headers: dict[str, str]) -> Any:
        return client.chat.completions.create(
            model=settings.CHATTER_LLM_MODEL,
            messages=messages,
            temperature=temperature,
            max_tokens=max_tokens,
            timeout=attempt_timeout,
            extra_headers=headers,
        )

    return send


def _with_schema(messages: list[dict], schema: type[pydantic.BaseModel]) -> list[dict]:
    """The schema goes into the (first) system message: one system message suits every chat template."""
    block = prompt_block(name="json-schema", data=schema.model_json_schema())
    instruction = f"{SCHEMA_INSTRUCTION}\n{block}"
    if any("<<json-schema>>" in str(m.get("content", "")) for m in messages):
        return list(messages)
    if messages and messages[0].get("role") == "system":
        first = {**messages[0], "content": f"{messages[0].get('content') or ''}\n\n{instruction}"}
        return [first, *messages[1:]]
    return [{"role": "system", "content": instruction}, *messages]


