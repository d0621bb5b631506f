"""What the model heard in one chunk, less what it did not hear: hallucinations, prompt echo,
repetition loops and the words already published.

Pure text and timing logic, decided per segment (one bad segment never costs the good ones of the
same call). The segments come from `Transcriber.hear`; `utterances` decides what to do with the
verdict (publish, carry over, or decode again without the prompt).
"""
from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

from streamctx.types import TimedSegment

COMPRESSION_RATIO_LIMIT = 2.4  # whisper's own threshold for "this text repeats itself"
# How many published words the next call is compared with: the prompt is the last 120 characters
# (≈25 words), which is what the model can echo.
TAIL_WORDS = 32
# A run of the same n words this many times in a row is a decoding loop, not speech ("to a polite
# to a polite to a polite"); single words need one more ("no no no" is said).
LOOP_REPEATS = 3
LOOP_REPEATS_ONE_WORD = 4
LOOP_MAX_NGRAM = 8
# A whole segment found word for word in the published tail is an echo of the prompt when it is at
# least this long (a short phrase said twice, "let's go", is plausible speech).
ECHO_MIN_WORDS = 3
MAX_LEAD = 2

_WORD_RE = re.compile(r"[\w']+")
# Whisper writes a number as digits in one call and as words in the next ("ten" / "10"): compared
# as words, or an echo of "go forward ten" heard as "Go forward 10" would be published twice.
_NUMBER_WORDS = dict(
    enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
) | {30: "thirty", 40: "forty", 50: "fifty", 60: "sixty", 70: "seventy", 80: "eighty", 90: "ninety", 100: "hundred"}


def norm(word: str) -> str:
    """A word as compared: lower case, letters, digits and apostrophes only, small numbers spelled."""
    plain = "".join(_WORD_RE.findall(word.lower()))
    return _NUMBER_WORDS.get(int(plain), plain) if plain.isdigit() and len(plain) <= 3 else plain


@dataclass(frozen=True)
class HeardSegment:
    """One whisper segment of a chunk: its words, timed in stream seconds."""

    words: list[TimedSegment]  # text keeps whisper's leading space and punctuation
    compression_ratio: float = 1.0

    @property
    def text(self) -> str:
        return "".join(word.text for word in self.words).strip()


@dataclass
class Verdict:
    """The words of one call worth publishing (before the overlap with the published tail is
    removed), and what was dropped, by kind, for the metrics and the benchmark."""

    segments: list[list[TimedSegment]] = field(default_factory=list)
    looped: bool = False  # the model looped: what follows the loop in the audio is unheard
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> words

    def drop(self, reason: str, count: int) -> None:
        if count:
            self.dropped[reason] = self.dropped.get(reason, 0) + count

    @property
    def words(self) -> list[TimedSegment]:
        return [word for segment in self.segments for word in segment]


def segments_judge(segments: list[HeardSegment], *, published: list[str], english: bool) -> Verdict:
    """Keep each segment's real words: no punctuation-only or (for English) non-Latin-script
    hallucination, no repetition loop beyond its first round, no segment that only repeats the
    published tail (the prompt)."""
    verdict = Verdict()
    for segment in segments:
        words = [word for word in segment.words if norm(word.text)]
        verdict.drop("punctuation", len(segment.words) - len(words))
        if english:
            latin = [word for word in words if _is_latin(word.text)]
            verdict.drop("script", len(words) - len(latin))
            words = latin
        if not words:
            continue
        kept = loop_cut([norm(word.text) for word in words])
        if kept < len(words) or segment.compression_ratio > COMPRESSION_RATIO_LIMIT:
            verdict.looped = True
        verdict.drop("loop", len(words) - kept)
        words = words[:kept]
        if len(words) >= ECHO_MIN_WORDS and _contains_run(published, [norm(word.text) for word in words]):
            verdict.drop("echo", len(words))
            continue
        verdict.segments.append(words)
    return verdict


def loop_cut(words: list[str]) -> int:
    """How many of `words` to keep: all of them, or up to the end of the first round of the
    earliest repetition loop."""
    for start in range(len(words)):
        for size in range(1, LOOP_MAX_NGRAM + 1):
            needed = LOOP_REPEATS_ONE_WORD if size == 1 else LOOP_REPEATS
            if start + size * needed > len(words):
                break
            unit = words[start : start + size]
            if all(words[start + size * round_ : start + size * (round_ + 1)] == unit for round_ in range(1, needed)):
                return start + size
    return len(words)


def unpublished(words: list[TimedSegment], published: list[str], *, carried: bool = False) -> tuple[list[TimedSegment], int]:
    """`words` less what repeats the end of what was published, and how many were dropped.

    The repeat is the model echoing its prompt, or carried-over audio heard again; either way it
    is found by text, since the model's times for audio it also heard last time are too rough to
    go by: the longest run of `words` that ends the published text, starting at most MAX_LEAD
    words in (a prompt makes the model guess a word or two before what it hears: "meters. Go
    forward ten meters" after "Go forward ten"), longer than what it skips. Without a skip, one
    misheard word in four is allowed, and after a carry-over (where the overlap is expected) at
    least one.
    """
    heard = [norm(word.text) for word in words]
    best: tuple[int, int] | None = None  # (size, lead)
    for lead in range(min(MAX_LEAD, len(heard) - 1) + 1):
        for size in range(min(len(heard) - lead, len(published)), lead, -1):
            if best is not None and size <= best[0]:
                break
            pairs = list(zip(heard[lead : lead + size], published[-size:]))
            if pairs[-1][0] != pairs[-1][1]:
                continue
            # Skipped words are the model's guesses: what follows them must match exactly.
            allowed = 0 if lead else max(size // 4, 1 if carried and size >= 2 else 0)
            if sum(new != old for new, old in pairs) <= allowed:
                best = (size, lead)
                break
    if best is None:
        return words, 0
    dropped = best[0] + best[1]
    return words[dropped:], dropped


def _contains_run(haystack: list[str], run: list[str]) -> bool:
    size = len(run)
    return any(haystack[index : index + size] == run for index in range(len(haystack) - size + 1))


def _is_latin(text: str) -> bool:
    """No letter outside the Latin script (digits and punctuation are neutral)."""
    for char in text:
        if char.isalpha() and not unicodedata.name(char, "").startswith("LATIN"):
            return False
    return True
