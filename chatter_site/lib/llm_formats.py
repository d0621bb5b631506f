"""How JSON is asked of an endpoint, and how it is read back: the part of the LLM layer that meets
real models (used by chatter_site.lib.llm; nothing else needs to import it).

How it works: docs/architecture.md, "Inside the parts" › chatter_site/lib/llm_formats.py."""
from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, cast
from urllib.parse import urlparse

import openai
import pydantic
from django.conf import settings
from openai.types.chat import ChatCompletionMessageParam

from chatter_site.lib.metrics import counter
from chatter_site.lib.redis import redis_client

log = logging.getLogger("chatter.llm")

LLM_FALLBACKS = counter(
    "chatter_llm_format_fallbacks_total", "Endpoints found refusing a JSON format", ("purpose", "from_format", "to_format", "reason")
)

JSON_FORMATS = ("json_schema", "json_object", "text")
JSON_FORMAT_TTL_SECONDS = 24 * 3600
REDIS_KEY = "chatter:llm:json_format"
# The in-process copy is re-read from Redis this often, so a fallback one worker found reaches the others.
LOCAL_REFRESH_SECONDS = 30.0
# After a 5xx that a JSON-mode request did not get past either (the endpoint is down, not picky), no
# further probe for this long: a failing endpoint is not sent two requests per attempt.
PROBE_PAUSE_SECONDS = 60.0
# Words in a refusal that show it is about the output format, not the prompt or the key.
_FORMAT_WORDS = re.compile(r"response_format|json_schema|json_object|structured output|grammar|\bschema\b", re.IGNORECASE)
# JSON-schema keywords OpenAI's strict mode does not accept; llama.cpp and vLLM do not need them either.
_UNSUPPORTED_KEYWORDS = ("default", "title", "minLength", "maxLength", "examples")


# --- strict schemas -----------------------------------------------------------------------------------


def strict_schema(schema: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The pydantic schema as strict structured outputs want it: every object closed
    (additionalProperties false) with every property required, no defaults or unsupported keywords.
    Validation stays pydantic's, so dropping a keyword here loosens nothing."""
    return _strictify(json.loads(json.dumps(schema.model_json_schema())))


def _strictify(node: Any) -> Any:
    if isinstance(node, list):
        return [_strictify(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: value for key, value in node.items() if key not in _UNSUPPORTED_KEYWORDS}
    for key in ("$defs", "properties"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _strictify(value) for name, value in node[key].items()}
    for key in ("items", "anyOf", "allOf", "oneOf"):
        if key in node:
            node[key] = _strictify(node[key])
    if node.get("type") == "object" or isinstance(node.get("properties"), dict):
        node["additionalProperties"] = False
        node["required"] = list((node.get("properties") or {}).keys())
        node.setdefault("properties", {})
    if "$ref" in node and len(node) > 1:
        node = {"$ref": node["$ref"]}  # strict mode allows nothing beside a $ref (a description, say)
    return node


def response_format(fmt: str, schema: type[pydantic.BaseModel]) -> dict[str, Any]:
    """The request options for one format ({} for "text")."""
    if fmt == "json_schema":
        name = re.sub(r"[^A-Za-z0-9_-]", "_", schema.__name__)[:64] or "answer"
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": name, "strict": True, "schema": strict_schema(schema)},
            }
        }
    if fmt == "json_object":
        return {"response_format": {"type": "json_object"}}
    return {}


def next_format(fmt: str) -> str | None:
    index = JSON_FORMATS.index(fmt)
    return JSON_FORMATS[index + 1] if index + 1 < len(JSON_FORMATS) else None


def refusal_reason(exc: openai.APIStatusError, fmt: str) -> str | None:
    """Why this error means "not this format" (e.g. "http_400"), or None when it is another failure.

    A 4xx must name the parameter (OpenAI's `param`, or the message): a 400 about the prompt's
    length or a 401 is no reason to ask in another format. A 5xx to json_schema is only a
    candidate: the caller confirms it by asking json_object once (see probe_after_server_error)."""
    if fmt == "text":
        return None
    status = exc.status_code
    if 400 <= status < 500 and status not in (401, 403, 408, 409, 429):
        body = exc.body if isinstance(exc.body, dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else body
        param = str(error.get("param") or "") if isinstance(error, dict) else ""
        message = str(error.get("message") or "") if isinstance(error, dict) else ""
        if "response_format" in param or _FORMAT_WORDS.search(message) or _FORMAT_WORDS.search(str(exc.message or "")):
            return f"http_{status}"
    return None


def probe_after_server_error(exc: openai.APIStatusError, fmt: str) -> bool:
    """A 5xx to json_schema: worth one json_object request to tell "refuses it" from "down"."""
    return fmt == "json_schema" and exc.status_code >= 500


# --- per-endpoint memory ---------------------------------------------------------------------------------


class FormatMemory:
    """What format an endpoint accepts: in-process, backed by a Redis hash shared by every process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._local: dict[str, tuple[str, float]] = {}
        self._probe_failed_at: dict[str, float] = {}

    def get(self, endpoint_key: str) -> str:
        now = time.monotonic()
        with self._lock:
            known = self._local.get(endpoint_key)
        if known is not None and now - known[1] < LOCAL_REFRESH_SECONDS:
            return known[0]
        fmt = self._read_redis(endpoint_key) or (known[0] if known else JSON_FORMATS[0])
        with self._lock:
            self._local[endpoint_key] = (fmt, now)
        return fmt

    def remember(self, endpoint_key: str, fmt: str) -> None:
        with self._lock:
            self._local[endpoint_key] = (fmt, time.monotonic())
        client = _redis()
        if client is None:
            return
        try:
            value = json.dumps({"format": fmt, "at": time.time()})
            pipe = client.pipeline()
            pipe.hset(REDIS_KEY, endpoint_key, value)
            pipe.expire(REDIS_KEY, JSON_FORMAT_TTL_SECONDS)
            pipe.execute()
        except Exception:  # Redis down: this process still remembers; the others find out themselves
            log.warning("llm json format not shared (Redis unavailable) endpoint=%s format=%s", endpoint_key, fmt)

    def probe_allowed(self, endpoint_key: str) -> bool:
        with self._lock:
            failed_at = self._probe_failed_at.get(endpoint_key)
        return failed_at is None or time.monotonic() - failed_at > PROBE_PAUSE_SECONDS

    def probe_failed(self, endpoint_key: str) -> None:
        with self._lock:
            self._probe_failed_at[endpoint_key] = time.monotonic()

    def forget(self) -> None:
        """Forget every endpoint (tests, or an operator after upgrading an endpoint)."""
        with self._lock:
            self._local.clear()
            self._probe_failed_at.clear()
        client = _redis()
        if client is not None:
            try:
                client.delete(REDIS_KEY)
            except Exception:
                log.warning("llm json formats not forgotten in Redis (unavailable)")

    def known(self) -> dict[str, dict[str, Any]]:
        """Every endpoint's remembered format, from Redis (for the admin page)."""
        client = _redis()
        if client is None:
            return {}
        try:
            raw = client.hgetall(REDIS_KEY)
        except Exception:
            return {}
        out = {}
        for key, value in raw.items():
            try:
                out[key.decode()] = json.loads(value)
            except (ValueError, UnicodeDecodeError):
                continue
        return out

    def _read_redis(self, endpoint_key: str) -> str | None:
        client = _redis()
        if client is None:
            return None
        try:
            raw = client.hget(REDIS_KEY, endpoint_key)
            fmt = json.loads(raw)["format"] if raw else None
        except Exception:
            return None
        return fmt if fmt in JSON_FORMATS else None


def _redis() -> Any:
    try:
        return redis_client()
    except Exception:
        return None


FORMATS = FormatMemory()


def _reset_after_fork() -> None:
    # A lock held at fork time would stay held in the child; what was learnt stays valid.
    FORMATS._lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


# --- asking ---------------------------------------------------------------------------------------------


def json_sender(
    *,
    messages: list[dict],
    schema: type[pydantic.BaseModel],
    temperature: float,
    max_tokens: int,
    purpose: str,
    formats_used: list[str],
) -> Callable[[openai.OpenAI, float, dict[str, str]], Any]:
    """The LLM layer's sender for JSON: asks in the endpoint's remembered format; a refusal moves the
    endpoint to the next format, within this attempt. `formats_used` gets the format that answered."""

    def send(client: openai.OpenAI, attempt_timeout: float, headers: dict[str, str]) -> Any:
        deadline = time.monotonic() + attempt_timeout
        endpoint_key = f"{client.base_url}".rstrip("/") + f"|{settings.CHATTER_LLM_MODEL}"

        def create(fmt: str) -> Any:
            return client.chat.completions.create(
                model=settings.CHATTER_LLM_MODEL,
                messages=cast("list[ChatCompletionMessageParam]", messages),
                temperature=temperature,
                max_tokens=max_tokens,
                timeout=max(0.05, deadline - time.monotonic()),
                extra_headers=headers,
                **response_format(fmt, schema),
            )

        fmt = FORMATS.get(endpoint_key)
        while True:
            try:
                completion = create(fmt)
            except openai.APIStatusError as exc:
                following = next_format(fmt)
                if following is None or deadline - time.monotonic() < 0.05:
                    raise
                reason = refusal_reason(exc, fmt)
                if reason is None:
                    if not (probe_after_server_error(exc, fmt) and FORMATS.probe_allowed(endpoint_key)):
                        raise
                    # A 5xx to structured outputs: refused (llama-cpp-python's server) or down? One
                    # JSON-mode request tells; only an answer to it counts as a refusal.
                    try:
                        completion = create(following)
                    except openai.APIError:
                        FORMATS.probe_failed(endpoint_key)
                        raise exc from None
                    _fallback_note(endpoint_key, purpose=purpose, old=fmt, new=following, reason=f"http_{exc.status_code}")
                    formats_used.append(following)
                    return completion
                _fallback_note(endpoint_key, purpose=purpose, old=fmt, new=following, reason=reason)
                fmt = following
                continue
            formats_used.append(fmt)
            return completion

    return send


def _fallback_note(endpoint_key: str, *, purpose: str, old: str, new: str, reason: str) -> None:
    FORMATS.remember(endpoint_key, new)
    LLM_FALLBACKS.labels(purpose=purpose, from_format=old, to_format=new, reason=reason).inc()
    host = urlparse(endpoint_key.split("|", 1)[0]).netloc or endpoint_key
    log.warning(
        "llm json format fallback endpoint=%s model=%s from=%s to=%s reason=%s purpose=%s",
        host, endpoint_key.rsplit("|", 1)[-1], old, new, reason, purpose,
    )


# --- reading JSON out of an answer ------------------------------------------------------------------------

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",(\s*[}\]])")


def json_extract(content: str) -> tuple[str, bool]:
    """(the JSON object text, whether anything had to be cut or repaired).

    Takes the answer as is when it parses; else the first fenced block, else the first balanced
    {...} object (strings and escapes respected), dropping trailing commas. A truncated object is
    not completed: guessing the rest would invent data. Raises ValueError when nothing is usable."""
    text = content.strip()
    if _parses(text):
        return text, False
    candidates = [match.group(1).strip() for match in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        for obj in _balanced_objects(candidate):
            if _parses(obj):
                return obj, True
            fixed = _drop_trailing_commas(obj)
            if _parses(fixed):
                return fixed, True
    raise ValueError("no complete JSON object in the answer")


def _parses(text: str) -> bool:
    try:
        return isinstance(json.loads(text), dict)
    except (ValueError, RecursionError):
        return False


def _balanced_objects(text: str, limit: int = 20) -> Iterator[str]:
    """Each balanced {...} in the text, from each "{" in turn (a brace in a preamble comes first)."""
    start = text.find("{")
    while start != -1 and limit > 0:
        limit -= 1
        depth, in_string, escaped = 0, False, False
        for index in range(start, len(text)):
            char = text[index]
            if in_string:
                if escaped:
                    escaped = False
                elif char == "\\":
                    escaped = True
                elif char == '"':
                    in_string = False
            elif char == '"':
                in_string = True
            elif char == "{":
                depth += 1
            elif char == "}":
                depth -= 1
                if depth == 0:
                    yield text[start : index + 1]
                    break
        else:
            return  # unbalanced from here on: truncated, never completed by guessing
        start = text.find("{", start + 1)


def _drop_trailing_commas(text: str) -> str:
    # Outside strings only: walk the text, rewriting the non-string stretches.
    out: list[str] = []
    chunk: list[str] = []
    in_string, escaped = False, False
    for char in text:
        if in_string:
            out.append(char)
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            out.append(_TRAILING_COMMA.sub(r"\1", "".join(chunk)))
            chunk = []
            out.append(char)
            in_string = True
            continue
        chunk.append(char)
    out.append(_TRAILING_COMMA.sub(r"\1", "".join(chunk)))
    return "".join(out)
