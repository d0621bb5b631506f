"""The LLM layer every app uses: the official openai client against any OpenAI-compatible endpoint.

The purpose functions (chat lines, JSON answers, embeddings) live here; where calls go, retries and
the concurrency cap in llm_transport. How it works: docs/architecture.md, "Inside the parts" ›
chatter_site/lib/llm.py.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

import openai
import pydantic
from django.conf import settings
from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletionMessageParam

from chatter_site.lib.errors import ChatterError, ErrorCode, validation_summary
from chatter_site.lib.llm_formats import FORMATS, json_extract, json_sender
from chatter_site.lib.llm_transport import (
    AttemptFailure,
    Endpoint,
    LLMCallError,
    Sender,
    completion_text,
    llm_call,
    llm_embed_endpoint,
    llm_endpoint,
    llm_failures_recent,
)
from chatter_site.lib.metrics import counter

__all__ = [
    "ChatAnswer",
    "Endpoint",
    "LLMCallError",
    "llm_answer_refused",
    "llm_chat",
    "llm_chat_answer",
    "llm_config",
    "llm_embed",
    "llm_embed_endpoint",
    "llm_endpoint",
    "llm_failures_recent",
    "llm_json",
    "llm_json_formats_forget",
    "llm_json_formats_known",
    "prompt_block",
]

LLM_RESULTS = counter("chatter_llm_results_total", "llm_chat/llm_json calls by purpose and final result", ("purpose", "result"))
LLM_JSON_ANSWERS = counter(
    "chatter_llm_json_answers_total", "Schema-valid JSON answers by the format that produced them", ("purpose", "format", "repaired")
)
LLM_REFUSED = counter("chatter_llm_answers_refused_total", "Answers the caller's checks refused", ("purpose", "reason"))
SCHEMA_INSTRUCTION = "Reply with one JSON object that matches this JSON schema, and nothing else."

M = TypeVar("M", bound=pydantic.BaseModel)


# --- configuration -------------------------------------------------------------------------------


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
        text = completion_text(completion)
        reason = getattr(completion.choices[0], "finish_reason", None) or "stop"
        return ChatAnswer(text=text, finish_reason=str(reason))

    with _result_counted(purpose):
        return llm_call(
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
        content = completion_text(completion)
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
            raise AttemptFailure("invalid", message, retryable=False, code=ErrorCode.INVALID) from None
        fmt = formats_used[-1] if formats_used else "unknown"
        LLM_JSON_ANSWERS.labels(purpose=purpose, format=fmt, repaired=str(repaired).lower()).inc()
        return value

    def ask(conversation: list[dict]) -> M:
        return llm_call(
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
            raise AttemptFailure("invalid", "LLM endpoint sent a non-JSON answer", retryable=False)
        try:
            vectors = [list(map(float, item.embedding)) for item in sorted(response.data, key=lambda item: item.index)]
        except (AttributeError, TypeError, ValueError):
            raise AttemptFailure("invalid", "LLM endpoint sent malformed embeddings", retryable=False) from None
        if len(vectors) != len(texts) or any(not vector for vector in vectors):
            raise AttemptFailure("invalid", f"LLM endpoint sent {len(vectors)} embeddings for {len(texts)} texts", retryable=False)
        if len({len(vector) for vector in vectors}) != 1:
            raise AttemptFailure("invalid", "LLM endpoint sent embeddings of different sizes", retryable=False)
        return vectors

    with _result_counted(purpose):
        return llm_call(purpose=purpose, timeout=timeout, metadata=None, send=send, parse=parse, embeddings=True)


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


# --- helpers -------------------------------------------------------------------------------------


class _result_counted:
    """Counts one result per API call: ok, or the outcome of the LLMCallError that ended it."""

    def __init__(self, purpose: str) -> None:
        self.purpose = purpose

    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
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


def _chat_sender(*, messages: list[dict], temperature: float, max_tokens: int) -> Sender:
    def send(client: openai.OpenAI, attempt_timeout: float, headers: dict[str, str]) -> Any:
        return client.chat.completions.create(
            model=settings.CHATTER_LLM_MODEL,
            messages=cast("list[ChatCompletionMessageParam]", messages),
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
