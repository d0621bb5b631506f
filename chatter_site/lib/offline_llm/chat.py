"""Composing one short persona chat line from the persona card and the stream context."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, replace
from typing import Any

from chatter_site.lib.offline_llm.prompt import (
    as_terms,
    author_name,
    moment_keyword,
    read_block,
    request_seed,
    safe_terms,
    texts_by_role,
    viewer_keyword,
)

EVENT_LINES: dict[str, tuple[str, ...]] = {
    "big_laugh": ("LMAO {t}", "im crying at {t}", "that {t} bit got me", "no way that was so funny", "chat is dying rn"),
    "fail": ("rip {t}", "that {t} attempt was rough", "F in the chat", "how did {t} go that wrong", "unlucky ngl"),
    "clutch": ("CLUTCH {t}", "that {t} play was insane", "no way they pulled that off", "{t} diff honestly", "ice cold"),
    "chat_question": ("good question about {t}", "someone explain {t} pls", "wait what about {t}", "i want to know too"),
    "scene_change": ("ooh {t} time", "finally we move on", "new scene lets go", "oh we are doing {t} now"),
    "chat_spike": ("chat is going wild", "chat moving so fast rn", "everyone spamming {t}", "this chat is unhinged"),
}
TOPIC_LINES = (
    "{t} talk again", "this {t} part is so good", "ok {t} is actually interesting", "watching {t} closely", "vibes are good",
)
LOVED_LINES = ("i love {t} so much", "{t} is the best part", "more {t} please", "{t} hours lets go")
HATED_LINES = ("not {t} again", "{t} is so overrated", "skip the {t} pls")
REPLY_LINES = (
    "{t}? fair point", "you're right about {t}", "nah {t} is overrated", "lol {t} for real", "same, {t} is wild",
    "true true", "lol what", "nah not today", "chat is wild today", "ok sure buddy",
)
REPLY_QUESTION_LINES = (
    "good question, {t} for sure", "honestly {t}, no doubt", "idk maybe {t}", "hard to say tbh", "no idea lol",
)
NEUTRAL_LINES = ("nice", "this is fun", "{t} looks good", "interesting {t}", "ok that was cool", "watching {t} rn")
FILLERS = ("fr", "ngl", "lol", "tbh", "honestly")


@dataclass(frozen=True)
class Style:
    max_words: int = 16
    emote_chance: float = 0.45
    max_emotes: int = 1
    catchphrase_chance: float = 0.35
    case: str = ""  # "upper" | "lower" | ""
    asks: bool = False

    @classmethod
    def from_text(cls, text: str) -> Style:
        text = text.lower()
        style = cls()
        if any(w in text for w in ("terse", "short", "laconic", "few words", "blunt", "dry", "minimal")):
            style = replace(style, max_words=7, emote_chance=0.25, catchphrase_chance=0.2)
        if any(w in text for w in ("emote", "spam", "hype", "excit", "energetic")):
            style = replace(style, emote_chance=0.95, max_emotes=3)
        if any(w in text for w in ("caps", "shout", "loud", "yell")):
            style = replace(style, case="upper")
        elif any(w in text for w in ("lowercase", "chill", "lazy", "no caps")):
            style = replace(style, case="lower")
        if any(w in text for w in ("question", "curious", "asks")):
            style = replace(style, asks=True)
        return style


def fill(template: str, topic: str | None) -> str:
    return template.replace("{t}", topic) if topic else template


def pick_line(rng: random.Random, templates: tuple[str, ...], topic: str | None) -> str:
    if topic:
        # "CLUTCH clutch" reads like a bug: skip templates that already say the topic.
        usable = tuple(t for t in templates if topic.lower() not in t.replace("{t}", "").lower()) or templates
    else:
        usable = tuple(t for t in templates if "{t}" not in t) or templates
    return fill(rng.choice(usable), topic or "this")


def compose_chat_line(messages: list[dict[str, Any]]) -> str:
    """One short chat line for the persona and context in the request; the same request, the same line."""
    rng = random.Random(request_seed(messages))
    system = texts_by_role(messages, ("system", "developer"))
    user = texts_by_role(messages, ("user",))
    card = read_block(system, "persona-card")
    stream = read_block(user, "stream")
    reply_to = read_block(user, "reply-to")
    moment = read_block(user, "moment")
    moment = moment if isinstance(moment, dict) and moment.get("kind") in EVENT_LINES else None
    card = card if isinstance(card, dict) else None
    stream = stream if isinstance(stream, dict) else {}
    reply_to = reply_to if isinstance(reply_to, dict) else None

    trends = stream.get("trends") if isinstance(stream.get("trends"), dict) else {}
    keywords = safe_terms(as_terms(stream.get("keywords")) + as_terms(trends.get("top_terms")))
    events = [e for e in stream.get("events") or [] if isinstance(e, dict)]
    wave = as_terms(trends.get("emote_waves"))

    if card is None:
        return finish(pick_line(rng, NEUTRAL_LINES, rng.choice(keywords) if keywords else None), words=[], style=Style(), rng=rng)

    style = Style.from_text(str(card.get("style") or ""))
    catchphrases = as_terms(card.get("catchphrases"))
    emotes = as_terms(card.get("emotes"))
    loved = as_terms(card.get("loved_topics"))
    hated = as_terms(card.get("hated_topics"))
    loved_now = [t for t in loved if any(t.lower() in k.lower() or k.lower() in t.lower() for k in keywords)]
    hated_now = [t for t in hated if any(t.lower() in k.lower() or k.lower() in t.lower() for k in keywords)]

    prefix = ""
    if reply_to is not None:
        author = re.sub(r"[^\w.-]", "", author_name(reply_to.get("author")))[:32]
        prefix = f"@{author}" if author else ""
        their_text = str(reply_to.get("text") or "")
        topic = viewer_keyword(their_text, prefer=loved + keywords, rng=rng)
        templates = REPLY_QUESTION_LINES if their_text.rstrip().endswith("?") else REPLY_LINES
        reaction = pick_line(rng, templates, topic)
    elif moment is not None:
        # The moment it was asked to react to: name what happened (a word of the evidence or the stream's keywords).
        topic = moment_keyword(str(moment.get("evidence") or ""), prefer=keywords, rng=rng) or (rng.choice(keywords) if keywords else None)
        naming = tuple(t for t in EVENT_LINES[moment["kind"]] if "{t}" in t) if topic else EVENT_LINES[moment["kind"]]
        reaction = pick_line(rng, naming, topic)
    elif hated_now and rng.random() < 0.5:
        reaction = pick_line(rng, HATED_LINES, rng.choice(hated_now))
    elif events and events[-1].get("kind") in EVENT_LINES and rng.random() < 0.85:
        topic = rng.choice(keywords) if keywords and rng.random() < 0.7 else None
        reaction = pick_line(rng, EVENT_LINES[events[-1]["kind"]], topic)
    elif loved_now or (loved and rng.random() < 0.3):
        reaction = pick_line(rng, LOVED_LINES, rng.choice(loved_now or loved))
    else:
        reaction = pick_line(rng, TOPIC_LINES, rng.choice(keywords) if keywords else None)

    if style.case == "upper":
        reaction = reaction.upper()
    elif style.case == "lower":
        reaction = reaction.lower()
    if style.asks and not reaction.endswith("?") and rng.random() < 0.5:
        reaction += "?"

    parts = [reaction]
    if catchphrases and rng.random() < style.catchphrase_chance:
        phrase = rng.choice(catchphrases)
        parts = [phrase, reaction] if rng.random() < 0.5 else [reaction, phrase]
    # Joining the current emote wave is what a chat does; otherwise the persona's own emotes.
    pool = wave[:4] if wave and (not emotes or rng.random() < 0.6) else emotes
    if pool and rng.random() < style.emote_chance:
        parts.append(" ".join(rng.choice(pool) for _ in range(rng.randint(1, style.max_emotes))))
    line = " ".join(parts)
    return finish(f"{prefix} {line}" if prefix else line, words=emotes + wave, style=style, rng=rng)


def finish(line: str, *, words: list[str], style: Style, rng: random.Random) -> str:
    """3 to `max_words` words on one line; an @mention stays in front."""
    tokens = line.replace("\n", " ").split()
    tokens = tokens[: max(3, style.max_words)]
    while len(tokens) < 3:
        tokens.append(rng.choice(words) if words else rng.choice(FILLERS))
    return " ".join(tokens)[:300]
