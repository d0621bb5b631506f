"""The size of memory vectors: what the embedding endpoint really answers, and what the vector
collection already holds (see memory.store's docstring). A mismatch is a configuration to fix, said
in words: CHATTER_EMBED_DIMS=0 for an endpoint that ignores `dimensions`, a new
CHATTER_MEMORY_COLLECTION for a size the collection does not hold."""
from __future__ import annotations

import logging
from typing import Any

from chatter_site.lib.errors import ChatterError
from chatter_site.lib.llm import llm_embed

log = logging.getLogger("chatter.memory")

EMBED_PROBE_TEXT = "what size are your vectors"  # embedded once per process before Mem0 is built


class EmbeddingSizeError(ChatterError):
    """The endpoint's vectors do not fit the settings or the collection: a configuration to fix."""

    def __init__(self, message: str) -> None:
        super().__init__("unavailable", message)


def embedding_size_check(*, answered: int, asked: int, held: int | None, collection: str) -> None:
    """EmbeddingSizeError with what to set when the sizes disagree (see the module docstring)."""
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
