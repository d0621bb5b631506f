"""Deterministic embeddings by feature hashing, so Mem0 can store and search offline."""
from __future__ import annotations

import hashlib
import math
import os
import re

DEFAULT_EMBED_DIMS = 256


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 2 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def embed_text(text: str, dims: int) -> list[float]:
    """Feature hashing of word unigrams and bigrams, signed, L2-normalised: similar texts, similar vectors."""
    words = [_stem(w) for w in re.findall(r"[a-z0-9]+", text.lower())]
    features = [(w, 1.0) for w in words] + [(f"{a} {b}", 0.5) for a, b in zip(words, words[1:])]
    if not features:
        features = [("<empty>", 1.0)]  # a zero vector has no direction; cosine stores reject it
    vector = [0.0] * dims
    for feature, weight in features:
        digest = hashlib.blake2b(feature.encode(), digest_size=8).digest()
        number = int.from_bytes(digest, "big")
        vector[number % dims] += weight if (number >> 63) & 1 else -weight
    norm = math.sqrt(sum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def default_embed_dims() -> int:
    """The size served when a request names none: CHATTER_EMBED_DIMS=0 means "the model's own size"."""
    try:
        dims = int(os.environ.get("CHATTER_EMBED_DIMS") or DEFAULT_EMBED_DIMS)
    except ValueError:
        return DEFAULT_EMBED_DIMS
    return dims if dims > 0 else DEFAULT_EMBED_DIMS
