"""The offline LLM provider: a small OpenAI-compatible HTTP server, the embedded default.

`runchatter` starts it as the `[llm]` child when neither OPENAI_API_KEY nor OPENAI_BASE_URL is set,
so the embedded default runs the very same client code as production (chatter_site.lib.llm, and
Mem0's LLM and embedder): only the server on the other end differs. Tests reuse it in-process
(tests/support/llm_server.py) to inject latency, failures and junk.

    python -m chatter_site.lib.offline_llm --host 127.0.0.1 --port 8765

Endpoints: GET /v1/models, POST /v1/chat/completions (non-streaming), POST /v1/embeddings, and
POST /__control (loopback only) for fault injection: {"latency_ms", "fail_rate", "fail_status",
"junk"}. CHATTER_OFFLINE_LLM_LATENCY_MS sets a latency from the start.

Chat answers are deterministic per request (seeded from the messages) and composed, never copied:
a persona line is built from templates and the persona card's catchphrases, emotes and topics plus
the stream's keywords, events and emote waves. Text written by viewers only ever contributes one
filtered keyword, so chat cannot make the provider print its prompt or follow instructions.

The prompt blocks it reads (written with chatter_site.lib.llm.prompt_block, one JSON value between
tag lines): `<<persona-card>>` in the system message; `<<stream>>`, `<<chat>>` and `<<reply-to>>`
in the user message; `<<json-schema>>` anywhere for JSON-mode answers. It needs neither Django
settings nor a database, so the child starts in a fraction of a second.

Modules: prompt (reading a request), chat (persona lines), json_tasks (JSON mode), embeddings,
server (HTTP, fault injection, the command line).
"""
from chatter_site.lib.offline_llm.chat import compose_chat_line
from chatter_site.lib.offline_llm.embeddings import embed_text
from chatter_site.lib.offline_llm.json_tasks import compose_json
from chatter_site.lib.offline_llm.server import Faults, OfflineLLMHandler, OfflineLLMServer, main

__all__ = ["Faults", "OfflineLLMHandler", "OfflineLLMServer", "compose_chat_line", "compose_json", "embed_text", "main"]
