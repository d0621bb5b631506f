"""A persona's voice, read from its card: how long its lines are, their casing and punctuation, how
often it emotes, its openers and the words its style notes give it.

Demo personas have phrase banks written for them (banks.py); a persona a moderator made in admin has
only its card, so the voice is what makes it sound like that card: "2 to 6 words, ALL CAPS, stacks
emotes" and "one complete sentence of 15 to 30 words, almost never emotes" come out different.
"""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any

from chatter_site.lib.offline_llm.phrases import NounPhrase, noun_phrase
from chatter_site.lib.offline_llm.prompt import as_terms

_RANGE_RE = re.compile(r"(\d{1,2})\s*(?:to|-|–)\s*(\d{1,2})\s*words?", re.IGNORECASE)
_QUOTED_RE = re.compile(r"""['"‘“]([^'"’”]{2,40})['"’”]""")
_OPENER_RE = re.compile(r"(?:starts?|opens?|begins?)\s+with\s+((?:['\"‘“][^'\"’”]{2,30}['\"’”](?:\s*(?:or|,)\s*)?)+)", re.IGNORECASE)
_PAREN_RE = re.compile(r"\(([^)]{3,120})\)")


@dataclass(frozen=True)
class Voice:
    min_words: int = 4
    max_words: int = 14
    case: str = "casual"  # "upper" | "lower" | "sentence" | "casual"
    emote_rate: float = 0.3
    max_emotes: int = 1
    only_emotes: tuple[str, ...] = ()  # "when she does, only Kappa"
    exclaims: bool = False
    asks: bool = False
    catchphrases: tuple[str, ...] = ()
    emotes: tuple[str, ...] = ()
    openers: tuple[str, ...] = ()
    vocabulary: tuple[NounPhrase, ...] = field(default_factory=tuple)

    @property
    def tier(self) -> str:
        """Which generic bank fits: short bursts, casual lines, or whole sentences."""
        if self.max_words <= 7:
            return "short"
        if self.min_words >= 12 or self.case == "sentence":
            return "long"
        return "medium"


def voice_from_card(card: dict[str, Any]) -> Voice:
    style = str(card.get("style") or "")
    lowered = style.lower()
    low, high = 4, 14
    if match := _RANGE_RE.search(style):
        low, high = sorted((int(match.group(1)), int(match.group(2))))
    elif any(w in lowered for w in ("terse", "short", "laconic", "few words", "blunt", "minimal", "bursts")):
        low, high = 2, 6
    elif any(w in lowered for w in ("sentence", "eloquent", "verbose", "long")):
        low, high = 12, 26
    case = "casual"
    if re.search(r"all caps|\bcaps\b|shout|yell", lowered):
        case = "upper"
    elif "lowercase" in lowered or "no caps" in lowered:
        case = "lower"
    elif re.search(r"complete sentence|proper punctuation|grammatical|formal", lowered):
        case = "sentence"
    emote_rate, max_emotes = 0.3, 1
    if re.search(r"(?<!almost )never uses emotes|\bno emotes", lowered):
        emote_rate = 0.0
    elif re.search(r"almost never|rarely", lowered):
        emote_rate = 0.07
    elif re.search(r"stacks|spam|lots of|many emotes|piles on", lowered):
        emote_rate, max_emotes = 0.85, 3
    elif re.search(r"occasional|sometimes", lowered):
        emote_rate = 0.25
    emotes = tuple(as_terms(card.get("emotes")))
    only = tuple(e for e in emotes if re.search(rf"only {re.escape(e.lower())}\b", lowered))
    openers = tuple(
        quoted.strip()
        for group in _OPENER_RE.findall(style)
        for quoted in _QUOTED_RE.findall(group)
        if 1 <= len(quoted.split()) <= 5
    )
    vocabulary = []
    for group in _PAREN_RE.findall(style):
        for item in re.split(r",|/|\bor\b", group):
            phrase = noun_phrase(item.strip(" '\"‘’“”"))
            if phrase is not None and phrase not in vocabulary:
                vocabulary.append(phrase)
    return Voice(
        min_words=max(1, low),
        max_words=max(low, high),
        case=case,
        emote_rate=emote_rate,
        max_emotes=max_emotes,
        only_emotes=only,
        exclaims=bool(re.search(r"exclamation|hype|excit|energetic", lowered)),
        asks=bool(re.search(r"question|curious|asks", lowered)),
        catchphrases=tuple(as_terms(card.get("catchphrases"), limit=120)),
        emotes=emotes,
        openers=openers,
        vocabulary=tuple(vocabulary),
    )


def voice_apply(line: str, voice: Voice) -> str:
    """Casing and closing punctuation for the voice; catchphrases and @names keep their spelling."""
    if voice.case == "upper":
        return re.sub(r"(?<![@\w])([^@\s]+)", lambda m: m.group(1).upper(), line)
    if voice.case == "lower":
        return re.sub(r"(?<![@\w])([^@\s]+)", lambda m: m.group(1) if m.group(1)[:1].isupper() and any(c.isupper() for c in m.group(1)[1:]) else m.group(1).lower(), line)
    if voice.case == "sentence":
        line = line[:1].upper() + line[1:] if line[:1].isalpha() else line
        if line and line[-1] not in ".!?…":
            line += "."
    return line


# Emotes that cheer, and emotes that mourn: a fail is not cheered, a clutch is not mourned.
CHEER_EMOTES = frozenset({"PogChamp", "Pog", "POGGERS", "HYPERS", "Clap", "Kreygasm", "EZ", "FeelsGoodMan", "catJAM", "5Head"})
SORROW_EMOTES = frozenset({"BibleThump", "Sadge", "PepeHands", "NotLikeThis", "FeelsBadMan", "ResidentSleeper"})
MOURNING_FALLBACK = ("NotLikeThis", "BibleThump")  # Twitch's globals for a fail, when a card has none
_UNFIT_EMOTES = {"fail": CHEER_EMOTES, "clutch": SORROW_EMOTES, "big_laugh": SORROW_EMOTES}


def emotes_for(*, voice: Voice, wave: list[str], rng: random.Random, concept: str = "", force: bool = False) -> str:
    """The emotes that end a line (often none): the persona's own, or the room's current wave, never
    ones that contradict the moment (a fail is not cheered)."""
    if not (force or rng.random() < voice.emote_rate):
        return ""
    unfit = _UNFIT_EMOTES.get(concept, frozenset())
    pool = [e for e in voice.only_emotes or voice.emotes if e not in unfit]
    fitting_wave = [e for e in wave[:3] if e not in unfit]
    if fitting_wave and voice.emote_rate >= 0.25 and not voice.only_emotes and rng.random() < 0.6:
        pool = fitting_wave
    if not pool and concept == "fail" and voice.emote_rate >= 0.5 and not voice.only_emotes:
        pool = list(MOURNING_FALLBACK)  # an emote-stacker still emotes at a fail, just not a cheer
    if not pool:
        return ""
    count = rng.randint(1, voice.max_emotes) if voice.max_emotes > 1 else 1
    first = rng.choice(pool)
    chosen = [first] + [rng.choice(pool) for _ in range(count - 1)]
    return " ".join(chosen)
