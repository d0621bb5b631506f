"""A programmable OpenAI-compatible server for tests: the offline provider plus recording and modes.

    server = LLMTestServer().start_in_thread()
    server.set_mode(latency=2.0)             # slower than the client's timeout
    server.set_mode(fail_status=500)         # every API request fails (429 works too)
    server.set_mode(junk="text")             # 200 with a body that is not JSON ("empty": empty answer)
    server.set_mode(script=['{"a": 1}'])     # canned chat answers, one per request, then composed again
    server.requests                          # every API request: path, JSON body, headers

Normal mode answers exactly as the offline provider does (the same composer). Modes can also be
switched from another process with POST {base_url without /v1}/__control, as for the provider.
"""
from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from chatter_site.lib.offline_llm import Faults, OfflineLLMServer

CHAT_PATH = "/v1/chat/completions"
EMBEDDINGS_PATH = "/v1/embeddings"


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    body: dict[str, Any]
    headers: dict[str, str]

    @property
    def messages(self) -> list[dict[str, Any]]:
        return self.body.get("messages", [])

    def text_of(self, role: str) -> str:
        return "\n".join(str(m.get("content", "")) for m in self.messages if m.get("role") == role)


class LLMTestServer(OfflineLLMServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port, faults=Faults())
        self._records_lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._script: deque[str] = deque()

    # -- modes --

    def set_mode(
        self,
        *,
        latency: float = 0.0,
        fail_status: int | None = None,
        junk: str | None = None,
        script: list[str] | None = None,
    ) -> None:
        """Replace the current mode: anything not given goes back to normal."""
        self.set_faults(
            {
                "latency_ms": int(latency * 1000),
                "fail_rate": 1.0 if fail_status else 0.0,
                "fail_status": fail_status or 500,
                "junk": junk,
            }
        )
        with self._records_lock:
            self._script = deque(script or [])

    def reset(self) -> None:
        self.set_mode()
        with self._records_lock:
            self._requests.clear()

    # -- what was asked --

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._records_lock:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == CHAT_PATH]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path == EMBEDDINGS_PATH]

    # -- hooks --

    def on_request(self, path: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        with self._records_lock:
            self._requests.append(RecordedRequest(path=path, body=body, headers=headers))

    def scripted_content(self, path: str, body: dict[str, Any]) -> str | None:
        with self._records_lock:
            return self._script.popleft() if self._script else None

    def failure_message(self, headers: dict[str, str]) -> str:
        # Like OpenAI's 401, which quotes the key back: the client layer must never pass it on.
        return f"injected failure for {headers.get('authorization', 'no key')}"
