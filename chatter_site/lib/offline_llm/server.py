"""The HTTP side: an OpenAI-compatible server with fault injection, and the command line."""
from __future__ import annotations

import argparse
import base64
import hmac
import json
import os
import random
import re
import signal
import struct
import threading
import time
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chatter_site.lib.offline_llm.chat import BarkMemory, compose_chat_line
from chatter_site.lib.offline_llm.embeddings import default_embed_dims, embed_text
from chatter_site.lib.offline_llm.json_tasks import compose_json
from chatter_site.lib.offline_llm.prompt import message_text, request_seed
from chatter_site.lib.offline_llm.scribe import compose_scribe_document

MAX_BODY_BYTES = 8 * 1024 * 1024
MODELS = ("offline-chat", "offline-embed")
LOOPBACK = ("127.0.0.1", "::1", "::ffff:127.0.0.1")
CONTROL_TOKEN_ENV = "CHATTER_LLM_CONTROL_TOKEN"


class BadRequest(Exception):
    def __init__(self, message: str, *, status: int = 400, param: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.param = param


@dataclass(frozen=True)
class Faults:
    """Injected misbehaviour for tests and drills; all off by default."""

    latency_ms: int = 0
    fail_rate: float = 0.0
    fail_status: int = 500
    junk: str | None = None  # "text": 200 with a body that is not JSON; "empty": an empty answer

    @classmethod
    def from_env(cls) -> Faults:
        try:
            return cls(latency_ms=max(0, int(os.environ.get("CHATTER_OFFLINE_LLM_LATENCY_MS") or 0)))
        except ValueError:
            return cls()

    def updated(self, changes: dict[str, Any]) -> Faults:
        latency = int(changes.get("latency_ms", self.latency_ms))
        fail_rate = float(changes.get("fail_rate", self.fail_rate))
        status = int(changes.get("fail_status", self.fail_status))
        junk = changes.get("junk", self.junk)
        junk = "text" if junk is True else None if junk in (False, None, "") else str(junk)
        if latency < 0 or not 0 <= fail_rate <= 1 or not 400 <= status <= 599 or junk not in (None, "text", "empty"):
            raise BadRequest("latency_ms >= 0, fail_rate 0..1, fail_status 400..599, junk true|false|'empty'")
        return Faults(latency_ms=latency, fail_rate=fail_rate, fail_status=status, junk=junk)


def chat_completion(body: dict[str, Any], content: str) -> dict[str, Any]:
    messages = body["messages"]
    finish_reason = "stop"
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
    json_mode = (body.get("response_format") or {}).get("type") in ("json_object", "json_schema")
    if isinstance(max_tokens, int) and max_tokens > 0 and not json_mode and len(content.split()) > max_tokens:
        # Cut after the last allowed word, keeping the line breaks before it (a real model's cut-off
        # answer keeps its layout too).
        last_word = list(re.finditer(r"\S+", content))[max_tokens - 1]
        content = content[: last_word.end()]
        finish_reason = "length"
    prompt_tokens = sum(len(message_text(m).split()) for m in messages if isinstance(m, dict))
    completion_tokens = len(content.split())
    return {
        "id": f"chatcmpl-offline-{request_seed(messages):016x}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": str(body.get("model") or MODELS[0]),
        "system_fingerprint": "offline",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def validate_chat(body: dict[str, Any]) -> None:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) and "role" in m for m in messages):
        raise BadRequest("'messages' must be a non-empty list of {role, content} objects", param="messages")
    if body.get("stream"):
        raise BadRequest("the offline provider does not stream; send stream=false", param="stream")


def embeddings_response(body: dict[str, Any], *, default_dims: int) -> dict[str, Any]:
    raw = body.get("input")
    if isinstance(raw, str):
        inputs = [raw]
    elif isinstance(raw, list) and raw and all(isinstance(i, (str, int)) for i in raw):
        inputs = [" ".join(map(str, raw))] if all(isinstance(i, int) for i in raw) else [str(i) for i in raw]
    elif isinstance(raw, list) and raw and all(isinstance(i, list) for i in raw):
        inputs = [" ".join(map(str, tokens)) for tokens in raw]  # token arrays
    else:
        raise BadRequest("'input' must be a string or a non-empty list of strings", param="input")
    dims = body.get("dimensions") or default_dims
    if not isinstance(dims, int) or not 1 <= dims <= 8192:
        raise BadRequest("'dimensions' must be an integer between 1 and 8192", param="dimensions")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise BadRequest("'encoding_format' must be float or base64", param="encoding_format")
    data = []
    for index, text in enumerate(inputs):
        vector = embed_text(text, dims)
        encoded: Any = vector
        if encoding == "base64":  # what the openai client asks for unless told otherwise
            encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(len(t.split()) for t in inputs)
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model") or MODELS[1]),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


class OfflineLLMServer(ThreadingHTTPServer):
    """The provider; subclasses hook in through on_request() and scripted_content()."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Faults | None = None,
        embed_dims: int | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__((host, port), OfflineLLMHandler)
        self.faults = faults or Faults.from_env()
        self.embed_dims = embed_dims or default_embed_dims()
        self.verbose = verbose
        # Set by runchatter (CHATTER_LLM_CONTROL_TOKEN) so that only holders of services.json may
        # inject faults; unset in tests and benches that start a provider of their own.
        self.control_token = os.environ.get(CONTROL_TOKEN_ENV) or None
        self.bark_memory = BarkMemory()  # what the cast said lately, so nobody repeats themselves
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = str(self.server_address[0]), self.server_address[1]
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}/v1"

    def current_faults(self) -> Faults:
        with self._lock:
            return self.faults

    def set_faults(self, changes: dict[str, Any]) -> Faults:
        with self._lock:
            self.faults = self.faults.updated(changes)
            return self.faults

    def start_in_thread(self) -> OfflineLLMServer:
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, name="offline-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- hooks for test servers --

    def on_request(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        """Called for every API request after parsing, before faults apply."""

    def failure_message(self, headers: dict[str, str]) -> str:
        """The message of an injected failure."""
        return "injected failure"

    def scripted_content(self, path: str, body: dict[str, Any]) -> str | None:
        """A canned chat answer instead of the composed one; None composes as usual."""
        return None


class OfflineLLMHandler(BaseHTTPRequestHandler):
    server: OfflineLLMServer
    protocol_version = "HTTP/1.1"  # keep-alive, as the openai client's connection pool expects
    server_version = "chatter-offline-llm/1"
    timeout = 60  # idle keep-alive connections go away eventually
    # Small responses on a keep-alive socket otherwise wait ~40 ms for Nagle and delayed ACKs.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        if path == "/v1/models":
            self.send_json(200, {"object": "list", "data": [self.model_card(m) for m in MODELS]})
        elif path.startswith("/v1/models/"):
            self.send_json(200, self.model_card(path.rsplit("/", 1)[1]))
        elif path == "/__control":
            self.send_json(200, asdict(self.server.current_faults()))
        else:
            self.send_error_json(404, f"unknown path {path}", kind="not_found_error")

    def do_POST(self) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            body = self.read_json()
            if path == "/__control":
                self.control_check()
                self.send_json(200, asdict(self.server.set_faults(body)))
            elif path in ("/v1/chat/completions", "/v1/embeddings"):
                self.answer_api(path, body)
            else:
                raise BadRequest(f"unknown path {path}", status=404)
        except BadRequest as exc:
            kind = "not_found_error" if exc.status == 404 else "invalid_request_error"
            self.send_error_json(exc.status, str(exc), kind=kind, param=exc.param)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (its timeout); nothing to answer

    def answer_api(self, path: str, body: dict[str, Any]) -> None:
        if path.endswith("/chat/completions"):
            validate_chat(body)
        headers = {key.lower(): value for key, value in self.headers.items()}
        self.server.on_request(path, body, headers)
        faults = self.server.current_faults()
        if faults.latency_ms:
            time.sleep(faults.latency_ms / 1000)
        if faults.fail_rate and random.random() < faults.fail_rate:
            self.send_error_json(faults.fail_status, self.server.failure_message(headers), kind="server_error")
            return
        if faults.junk == "text":
            self.send_raw(200, b"<html><body>502 upstream hiccup</body></html>", "text/html")
            return
        if path.endswith("/embeddings"):
            self.send_json(200, embeddings_response(body, default_dims=self.server.embed_dims))
            return
        content = self.server.scripted_content(path, body)
        if content is None:
            json_mode = (body.get("response_format") or {}).get("type") in ("json_object", "json_schema")
            if json_mode:
                content = json.dumps(compose_json(body["messages"], response_format=body.get("response_format")))
            else:
                max_tokens = body.get("max_completion_tokens") or body.get("max_tokens")
                budget = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else None
                content = compose_scribe_document(body["messages"], max_words=budget) or compose_chat_line(
                    body["messages"], memory=self.server.bark_memory
                )
        if faults.junk == "empty":
            content = ""
        self.send_json(200, chat_completion(body, content))

    # -- plumbing --

    @staticmethod
    def model_card(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 0, "owned_by": "chatter-offline"}

    def control_check(self) -> None:
        """/__control changes how every call is answered: loopback only, a JSON body (a browser page
        cannot send one cross-origin without a preflight this server never grants) and, when the
        server has one (runchatter sets it), the bearer token."""
        if self.client_address[0] not in LOOPBACK:
            raise BadRequest("/__control answers loopback only", status=403)
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            raise BadRequest("/__control takes application/json", status=415)
        token = self.server.control_token
        supplied = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
        if token and not hmac.compare_digest(supplied.encode(), token.encode()):
            raise BadRequest("/__control needs the runner's token (services.json: llm_control_token)", status=403)

    def read_json(self) -> dict[str, Any]:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise BadRequest("bad Content-Length") from None
        if length > MAX_BODY_BYTES:
            raise BadRequest("request body too large", status=413)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise BadRequest("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("the request body must be a JSON object")
        return body

    def send_error_json(self, status: int, message: str, *, kind: str, param: str | None = None) -> None:
        self.send_json(status, {"error": {"message": message, "type": kind, "param": param, "code": None}})

    def send_json(self, status: int, payload: dict[str, Any]) -> None:
        self.send_raw(status, json.dumps(payload).encode(), "application/json")

    def send_raw(self, status: int, data: bytes, content_type: str) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="chatter's offline OpenAI-compatible LLM provider")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--latency-ms", type=int, default=None, help="injected latency (default: CHATTER_OFFLINE_LLM_LATENCY_MS)")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    server = OfflineLLMServer(args.host, args.port, verbose=args.verbose)
    if args.latency_ms is not None:
        server.set_faults({"latency_ms": args.latency_ms})

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"offline LLM provider listening on {server.base_url} (embeddings: {server.embed_dims} dims)", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()
    return 0
