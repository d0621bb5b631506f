"""The offline LLM provider: a small OpenAI-compatible HTTP server, the embedded default.

How it works: docs/architecture.md, "Inside the parts" › chatter_site/lib/offline_llm."""
from chatter_site.lib.offline_llm.chat import compose_chat_line
from chatter_site.lib.offline_llm.embeddings import embed_text
from chatter_site.lib.offline_llm.json_tasks import compose_json
from chatter_site.lib.offline_llm.server import Faults, OfflineLLMHandler, OfflineLLMServer, main

__all__ = ["Faults", "OfflineLLMHandler", "OfflineLLMServer", "compose_chat_line", "compose_json", "embed_text", "main"]
