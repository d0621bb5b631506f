"""Reading a request: message texts, the JSON prompt blocks, the seed, and viewer words kept as data."""
from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Any

# Words a viewer may use to steer a model; never echoed back, whatever the viewer asks.
STEERING_WORDS = frozenset(
    "ignore previous instruction instructions system prompt prompts jailbreak reveal print developer "
    "assistant password api key token secret card persona rules".split()
)
STOPWORDS = frozenset(
    "the a an and or but if then so to of in on at by for with from this that these those it its is are was "
    "were be been being am do does did have has had i you he she we they me my your our their him her them "
    "what which who whom whose when where why how all any both each few more most other some such no nor not "
    "only own same than too very can will just should now lol lmao yeah yes okay like get got really about "
    "into out up down over again there here would could dont doesnt cant im youre".split()
)


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return ""


def texts_by_role(messages: list[dict[str, Any]], roles: tuple[str, ...]) -> str:
    return "\n".join(message_text(m) for m in messages if isinstance(m, dict) and m.get("role") in roles)


def read_block(text: str, name: str) -> Any:
    """The JSON value of a `<<name>>` block whose tag stands on its own line, or None.

    Parsed with raw_decode from the tag on, so a `<</chat>>` typed by a viewer (inside a JSON
    string, where newlines are escaped) can neither close a block nor open a new one.
    """
    match = re.search(rf"(?m)^<<{re.escape(name)}>>[ \t]*$", text)
    if match is None:
        return None
    rest = text[match.end():]
    offset = len(rest) - len(rest.lstrip())
    try:
        value, _ = json.JSONDecoder().raw_decode(rest, offset)
    except ValueError:
        return None
    return value


def strip_blocks(text: str) -> str:
    return re.sub(r"(?ms)^<<([\w-]+)>>[ \t]*$.*?^<</\1>>[ \t]*$", " ", text)


def request_seed(messages: Any) -> int:
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).digest()
    return int.from_bytes(digest[:8], "big")


def as_terms(values: Any, *, limit: int = 60) -> list[str]:
    """Keywords, emotes, topics or catchphrases given as strings or as small dicts ({"term": ...}).

    One longer than `limit` is left out, never cut: a cut catchphrase reads as a broken word.
    """
    terms: list[str] = []
    for value in values if isinstance(values, list) else []:
        if isinstance(value, dict):
            value = next((value[k] for k in ("term", "keyword", "emote", "text", "name") if isinstance(value.get(k), str)), "")
        if isinstance(value, str) and value.strip():
            term = re.sub(r"[<>\n\r]", "", value.strip())
            if len(term) <= limit:
                terms.append(term)
    return terms


def words_of(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z0-9'_-]*", text)


def viewer_keyword(text: str, *, prefer: list[str], rng: random.Random) -> str | None:
    """One word from a viewer's text, never a steering word: it is data, not an instruction."""
    candidates = [w for w in words_of(text) if len(w) >= 3 and w.lower() not in STOPWORDS | STEERING_WORDS]
    preferred = [w for w in candidates if any(w.lower() in p.lower() for p in prefer)]
    if preferred:
        return rng.choice(preferred)
    if not candidates:
        return None
    longest = sorted(set(candidates), key=lambda w: (-len(w), w))[:3]
    return rng.choice(longest)


def moment_keyword(evidence: str, *, prefer: list[str], rng: random.Random) -> str | None:
    """The word that names what happened in an event's evidence: one the stream's keywords share if any,
    else one of its longest plain words (never a steering word, a contraction or a filler)."""
    candidates = [
        w for w in words_of(evidence) if len(w) >= 4 and w.isalpha() and w.lower() not in STOPWORDS | STEERING_WORDS
    ]
    preferred = [w for w in candidates if any(w.lower() in p.lower() for p in prefer)]
    if preferred:
        return rng.choice(preferred).lower()
    longest = sorted({w.lower() for w in candidates}, key=lambda w: (-len(w), w))[:3]
    return rng.choice(longest) if longest else None


def safe_terms(terms: list[str]) -> list[str]:
    return [t for t in terms if not set(w.lower() for w in words_of(t)) & STEERING_WORDS]


def author_name(value: Any) -> str:
    """An author given as a name or as {"name": ...}."""
    if isinstance(value, dict):
        value = value.get("name")
    return str(value or "")
