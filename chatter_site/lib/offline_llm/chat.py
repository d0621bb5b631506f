"""Composing one persona chat line: a rule-based bark system, in the manner of Valve's dynamic dialog.

How it works: docs/architecture.md, "Inside the parts" › chatter_site/lib/offline_llm/chat.py."""
from __future__ import annotations

import random
import re
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

from chatter_site.lib.offline_llm.banks import DEMO_BANKS, Bank
from chatter_site.lib.offline_llm.generic_banks import GENERIC_BANKS
from chatter_site.lib.offline_llm.phrases import SLOT_KINDS, NounPhrase, noun_phrase, phrases_from, phrases_in
from chatter_site.lib.offline_llm.prompt import (
    as_terms,
    author_name,
    read_block,
    request_seed,
    safe_terms,
    texts_by_role,
)
from chatter_site.lib.offline_llm.voice import MOURNING_FALLBACK, Voice, emotes_for, voice_apply, voice_from_card

EVENT_KINDS = ("big_laugh", "fail", "clutch", "chat_question", "scene_change", "chat_spike")
SLOT_RE = re.compile(r"\{(\w+)\}")
STREAM_SLOTS = {"np", "q", *SLOT_KINDS}
GREETING_RE = re.compile(r"\b(?:welcome back|we'?re back|i'?m back)\b", re.IGNORECASE)
AN_RE = re.compile(r"\b([Aa]) (?=(?:8|11|18|80)\b)")
NEUTRAL_CARD = {"handle": "", "style": "casual, 4 to 12 words", "emotes": []}


# --- memory ----------------------------------------------------------------------------------------


class BarkMemory:
    """What the provider said lately: per persona the responses it used (so it rotates through its
    bank), and across the room the lines it wrote (so nobody echoes a line just said). Thread-safe:
    the HTTP server answers on several threads."""

    # per_persona covers a demo persona's whole bank, so each picks the line it said longest ago once
    # all are used: a persona repeats as seldom as its bank allows.
    def __init__(self, *, per_persona: int = 200, room: int = 300, personas: int = 2000) -> None:
        self._lock = threading.Lock()
        self._used: OrderedDict[str, deque[str]] = OrderedDict()
        self._lines: deque[str] = deque(maxlen=room)
        self._own: dict[str, deque[str]] = {}
        self._per_persona = per_persona
        self._personas = personas

    def recent_templates(self, handle: str) -> list[str]:
        with self._lock:
            return list(self._used.get(handle, ()))

    def recent_lines(self, handle: str = "") -> set[str]:
        """The room's recent lines and the persona's own (its last `per_persona`), normalised as `_norm` does."""
        with self._lock:
            return {_norm(line) for line in self._lines} | set(self._own.get(handle, ()))

    def remember(self, *, handle: str, template: str, line: str) -> None:
        with self._lock:
            used = self._used.setdefault(handle, deque(maxlen=self._per_persona))
            self._used.move_to_end(handle)
            used.append(template)
            self._lines.append(line)
            self._own.setdefault(handle, deque(maxlen=self._per_persona)).append(_norm(line))
            while len(self._used) > self._personas:
                self._own.pop(self._used.popitem(last=False)[0], None)


# --- the situation ---------------------------------------------------------------------------------


@dataclass
class Situation:
    concept: str
    phrases: list[NounPhrase] = field(default_factory=list)  # for {np}, best first
    asked: NounPhrase | None = None  # for {q}
    asker: str = ""
    topics: list[NounPhrase] = field(default_factory=list)
    hated: list[NounPhrase] = field(default_factory=list)
    wave: list[str] = field(default_factory=list)
    name_it: bool = False  # a reaction to a stream moment: say what it was about when a phrase fits


def question_kind(text: str) -> str:
    """What a viewer's message to a persona asks for: answer_yesno | _opinion | _rate | _should | _count | _what, or reply."""
    lowered = re.sub(r"@[\w.-]+", " ", text.lower()).strip()
    if re.search(r"\brate\b|out of (?:10|ten)|/10\b", lowered):
        return "answer_rate"
    if re.search(r"\b(?:should|would you|reset or|or keep|keep going)\b", lowered):
        return "answer_should"
    if re.search(r"\bhow (?:many|much|long|often)\b", lowered):
        return "answer_count"
    if re.search(r"\b(?:what do you think|thoughts on|how do you feel|what about|how was|opinion)\b", lowered):
        return "answer_opinion"
    if re.match(r"^(?:hey |so |ok |okay )?(?:is|was|are|were|did|does|do|can|could|will|has|have|isn't|wasn't)\b", lowered):
        return "answer_yesno"
    if re.match(r"^(?:hey |so )?(?:what|which|who|why|how|where|when)\b", lowered):
        return "answer_what"
    return "answer_opinion" if "?" in lowered else "reply"


def _asked_phrase(text: str, keywords: list[NounPhrase]) -> NounPhrase | None:
    named = phrases_in(re.sub(r"@[\w.-]+", " ", text))
    if named:
        return named[0]
    lowered = text.lower()
    return next((k for k in keywords if k.text in lowered), None)


def _reacting(base: Situation, *, kind: str, evidence: str, keywords: list[str]) -> Situation:
    """A reaction to a stream moment: it names what the moment was about (the evidence's phrases
    first); a streamer's "welcome back" is greeted back."""
    base.concept = "greet" if kind == "scene_change" and GREETING_RE.search(evidence) else kind
    base.phrases = phrases_from(keywords=keywords, evidence=evidence, prefer_evidence=True)
    base.name_it = base.concept in EVENT_KINDS
    return base


def situation_read(*, card: dict[str, Any], stream: dict[str, Any], reply_to: dict | None, moment: dict | None,
                   voice: Voice, rng: random.Random) -> Situation:
    trends_raw = stream.get("trends")
    trends = trends_raw if isinstance(trends_raw, dict) else {}
    keywords = safe_terms(as_terms(stream.get("keywords")) + as_terms(trends.get("top_terms")))
    events = [e for e in stream.get("events") or [] if isinstance(e, dict) and e.get("kind") in EVENT_KINDS]
    wave = as_terms(trends.get("emote_waves"))
    loved = [p for p in (noun_phrase(t, topic=True) for t in as_terms(card.get("loved_topics"))) if p is not None]
    hated = [p for p in (noun_phrase(t, topic=True) for t in as_terms(card.get("hated_topics"))) if p is not None]
    keyword_phrases = phrases_from(keywords=keywords)
    on_stream = " ".join(keywords).lower()
    loved_now = [t for t in loved if t.text in on_stream]
    hated_now = [t for t in hated if t.text in on_stream]
    base = Situation(concept="idle", phrases=keyword_phrases, topics=loved_now or loved, hated=hated_now or hated, wave=wave)

    if reply_to is not None:
        text = str(reply_to.get("text") or "")
        base.concept = question_kind(text)
        base.asker = re.sub(r"[^\w.-]", "", author_name(reply_to.get("author")))[:32]
        base.asked = _asked_phrase(text, keyword_phrases)
        return base
    if moment is not None and moment.get("kind") in EVENT_KINDS:
        return _reacting(base, kind=moment["kind"], evidence=str(moment.get("evidence") or ""), keywords=keywords)
    roll = rng.random()
    if events and roll < 0.45:
        return _reacting(base, kind=events[-1]["kind"], evidence=str(events[-1].get("evidence") or ""), keywords=keywords)
    elif hated_now and roll < 0.6:
        base.concept = "hated"
    elif wave and voice.emote_rate >= 0.25 and roll < 0.6:
        base.concept = "wave"
    elif loved_now and roll < 0.7:
        base.concept = "loved"
    elif roll < (0.82 if voice.asks else 0.74):
        base.concept = "ask_chat"
    elif loved and roll < 0.8:
        base.concept = "loved"
    return base


# --- picking and filling a response --------------------------------------------------------------


def _numbers(rng: random.Random) -> dict[str, str]:
    n = rng.randint(3, 14)
    return {
        "pct": f"{rng.choice(range(12, 94, 3))}%",
        "n": str(n),
        "n2": str(n + rng.randint(2, 9)),
        "d": str(rng.randint(1, 9)),
        "secs": f"{rng.randint(1, 9)}.{rng.randint(1, 9)}",
        "frames": str(rng.choice((2, 3, 4, 6))),  # plural in every line: "{frames} frames to spare"
        "score": f"{rng.randint(6, 10)}/10",
    }


def _fill(template: str, values: dict[str, str]) -> str | None:
    missing = [slot for slot in SLOT_RE.findall(template) if slot not in values]
    if missing:
        return None
    return SLOT_RE.sub(lambda m: values[m.group(1)], template)


def _bank_for(handle: str, voice: Voice) -> tuple[Bank, Bank]:
    generic = GENERIC_BANKS[voice.tier]
    return DEMO_BANKS.get(handle.lower(), generic), generic


def _candidates(bank: Bank, generic: Bank, concept: str) -> list[str]:
    chain = [concept]
    if concept.startswith("answer_"):
        chain.append("answer_opinion")
    if concept == "greet":
        chain.append("scene_change")
    chain += ["idle"]
    for name in chain:
        if bank.get(name):
            return list(bank[name])
    return list(generic.get(concept) or generic["idle"])


def _values(situation: Situation, rng: random.Random) -> dict[str, str]:
    """What each slot would be filled with now: per stream slot the best phrase of its kind (what the
    moment is about comes first), else nothing, and the lines wanting that slot are left out."""
    values = _numbers(rng)
    lead = situation.phrases[: 1 if rng.random() < 0.6 else len(situation.phrases)]
    for slot in ("np", *SLOT_KINDS):
        fitting = [p for p in lead if p.fits(slot)] or [p for p in situation.phrases if p.fits(slot)]
        if fitting:
            values[slot] = rng.choice(fitting).text
    if situation.asked is not None:
        values["q"] = situation.asked.text
    if situation.topics:
        values["topic"] = rng.choice(situation.topics).text
    if situation.hated:
        values["hated"] = rng.choice(situation.hated).text
    return values


def _echoes(template: str, values: dict[str, str]) -> bool:
    """Whether a slot's phrase repeats a word the line already says ("skip the risky fireball skip")."""
    literal = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", SLOT_RE.sub(" ", template))}
    return any(
        w in literal for slot in set(SLOT_RE.findall(template)) & STREAM_SLOTS for w in values.get(slot, "").lower().split()
    )


def _norm(line: str) -> str:
    """A line as compared for repeats: its words, whatever the voice did to casing and punctuation."""
    return " ".join(re.sub(r"^@[\w.-]+\s+", "", line).lower().replace("’", "'").translate(_PUNCTUATION).split())


_PUNCTUATION = str.maketrans("", "", "!?.,;:\"")


def _strip_emotes(line: str, emotes: set[str]) -> str:
    return " ".join(w for w in line.split() if w not in emotes).lower().strip()


def _options(*, handle: str, concept: str, bank: Bank, generic: Bank, voice: Voice, values: dict[str, str],
             rng: random.Random) -> list[tuple[str, str]]:
    """(template, filled line) for every line of the concept whose slots the values fill."""
    templates = _candidates(bank, generic, concept)
    if voice.vocabulary and concept == "idle" and handle.lower() not in DEMO_BANKS and rng.random() < 0.35:
        templates = [t.replace("{np}", "{vocab}").replace("{named}", "{vocab}") for t in templates if "{np}" in t or "{named}" in t] or templates
    return [(t, line) for t in templates if (line := _fill(t, values)) is not None and not _echoes(t, values)]


def _names_it(option: tuple[str, str]) -> bool:
    return bool(set(SLOT_RE.findall(option[0])) & STREAM_SLOTS)


def respond(*, handle: str, situation: Situation, voice: Voice, rng: random.Random, memory: BarkMemory | None,
            avoid: set[str]) -> tuple[str, str]:
    """(template, filled line) for the situation: slot lines when a phrase fits, never a recent one."""
    bank, generic = _bank_for(handle, voice)
    values = _values(situation, rng)
    if voice.vocabulary:
        values["vocab"] = rng.choice(voice.vocabulary).text
    used = memory.recent_templates(handle.lower()) if memory is not None else []
    order = {template: index for index, template in enumerate(used)}

    def fresh(pool: list[tuple[str, str]]) -> list[tuple[str, str]]:
        return [o for o in pool if o[0] not in order and _norm(o[1]) not in avoid]

    options = _options(handle=handle, concept=situation.concept, bank=bank, generic=generic, voice=voice, values=values, rng=rng)
    if situation.name_it and situation.phrases:
        # A reaction to a moment names it, the moment's own phrase first (the evidence's, then the
        # keywords'): a fresh line of the moment's concept with room for it, else a fresh banter line
        # with room for it; failing all, the concept's naming line said longest ago, as long as the
        # room has not just seen that very line.
        forced = [{**values, **{slot: p.text for slot in ("np", *SLOT_KINDS) if p.fits(slot)}} for p in situation.phrases[:4]]
        for filled in forced[:3]:
            for concept in (situation.concept, "idle"):
                pool = _options(handle=handle, concept=concept, bank=bank, generic=generic, voice=voice, values=filled, rng=rng)
                named = [o for o in fresh(pool) if _names_it(o)]
                if named:
                    return rng.choice(named)
        for filled in forced:
            pool = _options(handle=handle, concept=situation.concept, bank=bank, generic=generic, voice=voice, values=filled, rng=rng)
            named = [o for o in pool if _names_it(o) and _norm(o[1]) not in avoid]
            if named:
                return min(named, key=lambda o: (order.get(o[0], -1), rng.random()))
    if not options:  # the concept's lines all want a slot nothing fits: idle lines without one
        options = [(t, t) for t in _candidates(bank, generic, "idle") if not SLOT_RE.search(t)] or [("vibes", "vibes")]
    slotted = [o for o in options if _names_it(o)]
    # Naming something on stream makes a line read as part of the moment: prefer one with a phrase.
    if slotted and rng.random() < 0.6:
        plain = [o for o in fresh(options) if o not in slotted]
        preferred = fresh(slotted + rng.sample(plain, min(1, len(plain))))
        if preferred:
            return rng.choice(preferred)
    if fresh(options):
        return rng.choice(fresh(options))
    if situation.concept not in ("idle", "reply"):
        # This concept's lines are all said lately: a greeting becomes a remark on the new scene, an
        # answer a more general one, anything else banter, instead of repeating one.
        fallback = {"greet": "scene_change", "answer_opinion": "reply"}.get(situation.concept, "idle")
        if situation.concept.startswith("answer_") and fallback == "idle":
            fallback = "answer_opinion"
        return respond(handle=handle, situation=Situation(**{**situation.__dict__, "concept": fallback,
                                                             "name_it": fallback in EVENT_KINDS}),
                       voice=voice, rng=rng, memory=memory, avoid=avoid)
    # All said lately: the one said longest ago (never the last one when there is another).
    return min(options, key=lambda o: (_norm(o[1]) in avoid, order.get(o[0], -1), rng.random()))


# Concepts a catchphrase fits: a reaction or banter. Not a greeting, an answer, a reply or advice,
# where a stock phrase beside the line reads as a non sequitur.
CATCHPHRASE_CONCEPTS = frozenset({"idle", "fail", "clutch", "big_laugh", "chat_spike"})


def _catchphrase(voice: Voice, line: str, rng: random.Random, concept: str, avoid: set[str]) -> str:
    """Now and then the persona's catchphrase, always whole and never spliced into a line: a line of
    its own, or a sentence after a line that ends one (a sentence voice's)."""
    if not voice.catchphrases or concept not in CATCHPHRASE_CONCEPTS or rng.random() >= 0.14:
        return line
    phrase = rng.choice(voice.catchphrases)
    if phrase.lower() in line.lower() or _norm(phrase) in avoid:
        return line  # said just now: once is a catchphrase, twice in a row is a tic
    alone_ok = len(phrase.split()) >= max(2, voice.min_words // 2)
    if voice.case == "sentence" and phrase.endswith((".", "!", "?")):
        return f"{line} {phrase}" if len((line + " " + phrase).split()) <= voice.max_words + 6 else line
    if voice.max_words <= 7 or alone_ok:
        return phrase  # a whole line of its own
    return line


def _generic_voicing(voice: Voice, line: str, rng: random.Random, concept: str) -> str:
    """Habits a moderator's card names that a generic line lacks: an opener, a closing question."""
    if voice.openers and rng.random() < 0.6 and not concept.startswith("answer_"):
        opener = rng.choice(voice.openers).rstrip(",.")
        line = f"{opener} {line[:1].lower() + line[1:]}" if not line[:2].isupper() else f"{opener} {line}"
    if voice.asks and not line.endswith("?") and rng.random() < 0.4:
        line = line.rstrip(".!") + ", right?"
    return line


def _finish(line: str, voice: Voice) -> str:
    line = re.sub(r"\s+", " ", line).strip()
    line = AN_RE.sub(r"\1n ", line)  # "a {score}" drawn as 8/10 or 11: "an 8/10"
    line = voice_apply(line, voice)
    if voice.case == "upper" and line[-1:].isalnum():
        line += "!!" if voice.exclaims else ""
    return line


def compose_chat_line(messages: list[dict[str, Any]], *, memory: BarkMemory | None = None) -> str:
    """One chat line for the persona and context in the request. Without `memory` the same request
    gets the same line; with it, a persona does not repeat itself or the room."""
    rng = random.Random(request_seed(messages))
    system = texts_by_role(messages, ("system", "developer"))
    user = texts_by_role(messages, ("user",))
    card = read_block(system, "persona-card")
    stream = read_block(user, "stream")
    chat = read_block(user, "chat")
    reply_to = read_block(user, "reply-to")
    moment = read_block(user, "moment")
    card = card if isinstance(card, dict) else dict(NEUTRAL_CARD)
    stream = stream if isinstance(stream, dict) else {}
    reply_to = reply_to if isinstance(reply_to, dict) else None
    moment = moment if isinstance(moment, dict) else None
    handle = re.sub(r"[^\w.-]", "", str(card.get("handle") or ""))[:40]

    voice = voice_from_card(card)
    situation = situation_read(card=card, stream=stream, reply_to=reply_to, moment=moment, voice=voice, rng=rng)
    wave = situation.wave
    known_emotes = set(voice.emotes) | set(wave) | set(MOURNING_FALLBACK)
    avoid = {_norm(_strip_emotes(str(m.get("text") or ""), known_emotes)) for m in (chat if isinstance(chat, list) else []) if isinstance(m, dict)}
    if memory is not None:
        avoid |= memory.recent_lines(handle.lower())
    template, line = respond(handle=handle, situation=situation, voice=voice, rng=rng, memory=memory, avoid=avoid)
    if handle.lower() not in DEMO_BANKS:
        line = _generic_voicing(voice, line, rng, situation.concept)
    if not (situation.name_it and set(SLOT_RE.findall(template)) & STREAM_SLOTS):
        line = _catchphrase(voice, line, rng, situation.concept, avoid)  # a catchphrase may stand in for a line, never for a named moment
    line = _finish(line, voice)
    if memory is not None:
        memory.remember(handle=handle.lower(), template=template, line=_strip_emotes(line, known_emotes))
    emotes = emotes_for(voice=voice, wave=wave, rng=rng, concept=situation.concept, force=situation.concept == "wave" and bool(wave))
    if emotes:
        line = f"{line} {emotes}"
    if situation.asker:
        line = f"@{situation.asker} {line}"
    return line[:300]
