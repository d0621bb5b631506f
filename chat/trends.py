"""What chat is doing right now: rate, top terms, emote waves, bot share. Pure computation."""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Twitch-style emotes the page renders and the trends job recognises as waves.
EMOTES = (
    "Kappa", "PogChamp", "Pog", "LUL", "KEKW", "OMEGALUL", "monkaS", "PepeHands", "Sadge", "catJAM",
    "EZ", "GG", "HYPERS", "PauseChamp", "5Head", "Clap", "BibleThump", "Kreygasm", "ResidentSleeper", "FeelsGoodMan",
)
EMOTE_SET = frozenset(EMOTES)
STOPWORDS = frozenset(
    """a an the and or but if so to of in on at for with is are was were be been it its this that
    i you he she we they me my your our their him her them what who how why when where not no yes
    just like do does did have has had can could would should will im its dont lol u ur rn gonna
    all get got out up about from as by there here then than too very really oh ok okay yeah""".split()
)
WORD_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9']{2,30}")
# A wave: an emote used by at least this many different authors inside the window.
WAVE_MIN_AUTHORS = 3


@dataclass(frozen=True)
class TrendInput:
    author_key: str
    origin: str
    text: str
    created_at: datetime


def trends_compute(*, room: str, at: datetime, window_seconds: float, messages: Iterable[TrendInput], top_n: int = 10) -> dict:
    messages = list(messages)
    terms: Counter[str] = Counter()
    emote_authors: dict[str, set[str]] = {}
    authors: set[str] = set()
    bots = 0
    for message in messages:
        authors.add(message.author_key)
        bots += message.origin == "bot"
        seen_in_message: set[str] = set()
        for token in message.text.split():
            if token in EMOTE_SET:
                emote_authors.setdefault(token, set()).add(message.author_key)
        for word in WORD_RE.findall(message.text):
            if word in EMOTE_SET:
                continue
            lowered = word.lower()
            if lowered in STOPWORDS or lowered in seen_in_message:
                continue
            seen_in_message.add(lowered)  # one vote per message, so a spammed word is not a trend
            terms[lowered] += 1
    waves = sorted(
        (emote for emote, who in emote_authors.items() if len(who) >= WAVE_MIN_AUTHORS),
        key=lambda emote: -len(emote_authors[emote]),
    )
    total = len(messages)
    return {
        "room": room,
        "at": at.isoformat().replace("+00:00", "Z"),
        "window_seconds": window_seconds,
        "messages_per_minute": round(total * 60.0 / window_seconds, 2),
        "top_terms": [{"term": term, "count": count} for term, count in terms.most_common(top_n) if count > 1],
        "emote_waves": waves,
        "active_authors": len(authors),
        "bot_share": round(bots / total, 3) if total else 0.0,
    }
