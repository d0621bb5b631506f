"""Event detectors: what just happened on stream, from new transcript segments and from chat's pace.

How it works: docs/architecture.md, "Inside the parts" › streamctx/detect.py."""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from streamctx.types import ChatActivity, DetectedEvent, TimedSegment

__all__ = ["EVENT_KINDS", "detect_chat_spike", "detect_transcript_events"]

EVENT_KINDS = ("big_laugh", "fail", "clutch", "chat_question", "scene_change", "chat_spike")

_MAX_CONFIDENCE = 0.95
_MAX_EVIDENCE = 80
_SHORT_CLAUSE = 24  # evidence shorter than this borrows the next clause
_MERGE_GAP = 2.0  # seconds between two segments for their same-kind detections to be one event
_COMBO_GAP = 2.0  # "let's go" and a victory word may be split over neighbouring segments

_FLAGS = re.IGNORECASE


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, _FLAGS)


@dataclass(frozen=True)
class _Cue:
    pattern: re.Pattern[str]
    weight: float
    negatable: bool = True  # "not/n't/never/almost" right before it cancels it


@dataclass(frozen=True)
class _Hit:
    kind: str
    confidence: float
    at_stream: float
    evidence: str
    segment_start: float
    segment_end: float


_Found = tuple[float, tuple[int, int], int]  # confidence, span of the evidence, offset of the first cue


# --- laughter --------------------------------------------------------------------------------

# "haha", "ahaha", "hahaha", "ha ha ha", "hehehe"; a lone "ha" or "he" is not laughter.
_HA_RUN = _rx(r"\b(?:a?h[ae]+(?:h[ae]+)+h?|a?h[ae]+(?:[\s,!.-]+h[ae]+){2,})\b")
_HA_UNIT = _rx(r"h[ae]")
_LAUGH_CUES = (
    _Cue(_rx(r"[\[(*]\s*(?:laughter|laughs|laughing|chuckles|giggles)\s*[\])*]"), 1.5, negatable=False),
    _Cue(_rx(r"\b(?:lmao+|lmfao+|rofl)\b"), 1.5),
    _Cue(_rx(r"\blo+l\b"), 1.0),
    _Cue(_rx(r"\b(?:that's|that is|this is|it's) (?:so |too |actually )?(?:hilarious|so funny)\b"), 1.0),
    _Cue(_rx(r"\bi'?m (?:literally )?(?:dying|crying)\b(?! to\b)"), 1.0),
    _Cue(_rx(r"\bi can'?t breathe\b"), 0.75),
)

# --- fail ------------------------------------------------------------------------------------

_SOCIAL_MISS = r"(?:you|ya|y'all|u|everyone|everybody|all of you|the stream|streaming|stream|being|chatting|talking|hanging)"
_FAIL_CUES = (
    _Cue(_rx(r"\boh,?\s+no+\b(?!\s+way\b)"), 0.6),
    _Cue(_rx(r"\bno{4,}\b"), 0.6),
    _Cue(_rx(r"\bno(?:[,!.]?\s+no){2,}\b"), 0.6),
    _Cue(_rx(r"\b(?:i|we|i've|we've|i just|we just|and)\s+(?:all\s+)?died\b"), 0.8),
    _Cue(_rx(r"\b(?:died|dead) again\b"), 0.8),
    _Cue(_rx(r"\byou died\b"), 0.8),
    _Cue(_rx(r"\b(?:we're|we are|i'm|i am) (?:so |totally )?dead\b"), 0.65),
    _Cue(_rx(r"\b(?:that's|that is|it's) a wipe\b|\bwe (?:just )?wiped\b|\bteam wipe\b"), 0.8),
    _Cue(_rx(r"\bgame over\b"), 0.8),
    _Cue(_rx(rf"\bmissed\b(?!\s+{_SOCIAL_MISS}\b)"), 0.5),
    _Cue(_rx(r"\b(?:rip|r\.i\.p\.?)(?![\w-]|\s*-?\s*off\b)"), 0.6),
    _Cue(_rx(r"\bwhat a throw\b|\bi (?:just )?threw\b|\bthrew the (?:game|run|match)\b"), 0.75),
    _Cue(_rx(r"\b(?:i|we) (?:totally |completely |just )?(?:messed|screwed|f[*\w]+ed) (?:it |that |this )?up\b"), 0.7),
    _Cue(_rx(r"\bthat(?:'s| is| was) (?:so|really|very) bad\b"), 0.5),
    _Cue(_rx(r"\bfail(?:ed|s)?\b"), 0.6),
    _Cue(_rx(r"\b(?:got|get|getting) (?:killed|destroyed|one-shot|one shot|wrecked)\b|\bkilled me\b"), 0.7),
    _Cue(_rx(r"\bfell (?:off|down|into)\b"), 0.6),
)
# "Last run we died on the second phase" narrates an old fail; it is not happening now.
_NARRATED_PAST = _rx(r"\b(?:last (?:run|time|attempt|try|stream|week|night)|yesterday|earlier today|the other day)\b")

# --- clutch ----------------------------------------------------------------------------------

_NUMBER = r"(?:2|3|4|5|two|three|four|five)"
_VICTORY = r"(?:(?:we|i) (?:did it|won|made it|got (?:him|her|them|'?em|it))|got (?:him|her|them|'?em)|yes{2,}|yes!|yes,? yes|victory)"
_CLUTCH_CUES = (
    _Cue(_rx(r"\bclutch(?:ed|es|ing)?\b"), 0.8),
    _Cue(_rx(rf"\b(?:1|one)\s*-?\s*(?:v|vs\.?|versus)\s*-?\s*{_NUMBER}\b"), 0.8),
    _Cue(_rx(r"\b(?:at the |in the )?last[- ]second\b"), 0.7),
    _Cue(_rx(r"\b(?:with|on|at) (?:one|1|a single) (?:hp|health|hit point)\b|\b(?:one|1) (?:hp|hit point) left\b"), 0.7),
    _Cue(_rx(r"\bno way,?\s+(?:we|i|he|she|they) (?:won|did it|made it|survived|got (?:him|her|them|'?em|it|that)|pulled (?:it|that) off)\b"), 0.75),
    _Cue(_rx(r"\blow (?:health|hp)\b.{0,60}?\b(?:won|made it|survived|got (?:him|her|them|'?em)|did it)\b"), 0.7),
    _Cue(_rx(r"\bbarely (?:made it|survived|won)\b"), 0.65),
)
_LETS_GO = _rx(r"\blet'?s\s+go+\b(?!\s+(?:to|back|over|left|right|through|into|in|and|for|with|get|see|check)\b)")
_VICTORY_RX = _rx(rf"\b{_VICTORY}")
_COMBO_WEIGHT = 0.65

# --- question to chat ------------------------------------------------------------------------

_SENTENCE = re.compile(r"[^.?!]+[.?!]*")
_WH = r"(?:what|which|who|where|when|why|how|should|shall)\b"
# "Chat, is this good" and "chat should I" address chat; in "chat is wild today" chat is the subject.
_LEAD_FILLER = rf"(?:(?:so|okay|ok|alright|all right|hmm+|um+|uh+|and|but|now|wait|well|yo)[,.]?\s+|(?:chat|guys)(?:[,.]\s*|\s+(?={_WH})))*"
_QUESTION_START = _rx(rf"^\s*{_LEAD_FILLER}(?:what|which|who|where|when|why|how|should|shall|do|does|did|is|are|can|could|would|will|any|anyone)\b")
_CHAT_VOCATIVE = _rx(r"(?<!\bthe )(?<!\bmy )(?<!\bin )(?<!\binto )\bchat\b")
_SHOULD_START = _rx(rf"^\s*{_LEAD_FILLER}(?:should|shall) (?:i|we)\b")
_ASK_CUES = (
    _Cue(_rx(r"\bwhat do (?:you guys|y'all|you all|everyone|everybody|chat) (?:think|reckon|say)\b"), 0.8),
    _Cue(_rx(r"\b(?:do|would) (?:you guys|y'all|you all|chat) (?:want|think|prefer|like)\b"), 0.75),
    _Cue(_rx(r"\b(?:let me know|tell me|vote|type|drop|spam|put)\b[^.?!]{0,30}?\b(?:in|into) (?:the )?chat\b"), 0.85),
    _Cue(_rx(r"\b(?:what|where|which|who|how|when)\b[^.?!]{0,25}?\bshould (?:i|we)\b"), 0.65),
    _Cue(_rx(r"\byou guys (?:decide|pick|choose|tell me)\b"), 0.75),
)

# --- scene change ----------------------------------------------------------------------------

_SCENE_CUES = (
    _Cue(_rx(r"\b(?:and )?welcome back\b"), 0.75),
    _Cue(_rx(r"\b(?:and )?we(?:'re| are) back\b"), 0.75),
    _Cue(_rx(r"(?<!whole )\bnew (?:level|map|area|zone|world|stage|chapter|game|run)\b"), 0.7),
    _Cue(_rx(r"\bnext (?:map|stage|area|zone|world|chapter|round|game|match|run|boss)\b"), 0.7),
    _Cue(_rx(r"\b(?:let's|let us) (?:move on|switch|head over) to\b|\bmoving on to\b"), 0.7),
    _Cue(_rx(r"\b(?:alright|all right|okay|ok)[,.]?\s+next(?:[,.!:]|\s+(?:up|one|thing|topic|question|segment)\b|\s*$)"), 0.6),
    _Cue(_rx(r"\b(?:i'll )?be right back\b|\bbrb\b"), 0.6),
)

# "I can't believe we died" is disbelief, not negation.
_NEGATION_BEFORE = _rx(r"(?:\b(?:not|never|almost|nearly)|n't)\s+(?!believe\b)(?:\w+\s+)?$")
_CURLY = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"'})


def detect_transcript_events(
    *,
    new_segments: Sequence[TimedSegment],
    previous_speech_end: float | None,
    silence_threshold: float = 8.0,
) -> list[DetectedEvent]:
    """Events found in `new_segments` only, so a moment is raised once however long it stays
    in the rolling window. `previous_speech_end` is where speech last ended before these
    segments (None at the start of a stream: no silence to measure). Sorted by `at_stream`."""
    segments = sorted((s for s in new_segments if s.text.strip()), key=lambda s: (s.start, s.end))
    texts = [s.text.translate(_CURLY) for s in segments]  # same length: offsets stay valid
    hits: list[_Hit] = []
    speech_end = previous_speech_end
    for index, segment in enumerate(segments):
        text = texts[index]
        gap = None if speech_end is None else segment.start - speech_end
        hits.extend(_segment_hits(segment, text, neighbours=_neighbour_texts(segments, texts, index),
                                  silence=gap if gap is not None and gap > silence_threshold else None,
                                  silence_threshold=silence_threshold))
        speech_end = segment.end if speech_end is None else max(speech_end, segment.end)
    return [
        DetectedEvent(kind=h.kind, at_stream=h.at_stream, confidence=h.confidence, evidence=h.evidence)
        for h in sorted(_merge(hits), key=lambda h: (h.at_stream, EVENT_KINDS.index(h.kind)))
    ]


def detect_chat_spike(
    *,
    activity: ChatActivity,
    at_stream: float,
    min_recent: int = 8,
    ratio: float = 3.0,
) -> DetectedEvent | None:
    """A `chat_spike` when chat runs at ≥ `ratio` × its baseline with at least `min_recent`
    messages behind the recent rate. Confidence is 0.5 at exactly `ratio` and climbs to 0.95 at
    3 × `ratio`. A dead chat (baseline under one message a minute) counts as one a minute, so
    a sudden burst into silence is a spike and never a division by zero."""
    recent = activity.recent_per_minute
    if activity.recent_count < min_recent or not recent > 0:
        return None
    baseline = max(activity.baseline_per_minute, 1.0)
    observed = recent / baseline
    if observed < ratio:
        return None
    confidence = 0.5 + 0.45 * min(1.0, (observed - ratio) / (2 * ratio))
    return DetectedEvent(
        kind="chat_spike",
        at_stream=at_stream,
        confidence=round(confidence, 3),
        evidence=f"chat at {recent:.0f} msg/min vs {activity.baseline_per_minute:.0f} baseline ({observed:.1f}x)",
    )


# --- per segment -----------------------------------------------------------------------------


def _segment_hits(
    segment: TimedSegment,
    text: str,
    *,
    neighbours: str,
    silence: float | None,
    silence_threshold: float,
) -> list[_Hit]:
    found: list[_Hit] = []

    def add(kind: str, confidence: float, span: tuple[int, int], first: int, evidence: str | None = None) -> None:
        found.append(_Hit(
            kind=kind,
            confidence=round(min(_MAX_CONFIDENCE, confidence), 3),
            at_stream=_moment(segment, text, first),
            evidence=evidence if evidence is not None else _evidence(text, *span),
            segment_start=segment.start,
            segment_end=segment.end,
        ))

    laugh = _laughter(text)
    if laugh:
        add("big_laugh", *laugh)

    fail = _best(text, _FAIL_CUES, narrated_past_cancels=True)
    if fail:
        add("fail", *fail)

    clutch = _clutch(text, neighbours)
    if clutch:
        add("clutch", *clutch)

    question = _question_to_chat(text)
    if question:
        add("chat_question", *question)

    cue = _best(text, _SCENE_CUES)
    if silence is not None:
        # 0.5 just past the threshold, 0.9 once the silence is three times as long.
        silence_confidence = 0.5 + 0.4 * min(1.0, (silence - silence_threshold) / (2 * silence_threshold))
        note = f"after {silence:.0f}s of silence"
        if cue:
            cue_confidence, span, _ = cue
            quoted = _evidence(text, *span, limit=_MAX_EVIDENCE - len(note) - 3)
            add("scene_change", max(cue_confidence, silence_confidence) + 0.15, span, 0, f"{quoted} ({note})")
        else:
            add("scene_change", silence_confidence, (0, 0), 0, f"speech resumed {note}")
    elif cue:
        add("scene_change", *cue)
    return found


def _neighbour_texts(segments: Sequence[TimedSegment], texts: Sequence[str], index: int) -> str:
    """Text of the new segments right before and after this one, for cues said across a cut."""
    parts = []
    here = segments[index]
    if index > 0 and here.start - segments[index - 1].end <= _COMBO_GAP:
        parts.append(texts[index - 1])
    if index + 1 < len(segments) and segments[index + 1].start - here.end <= _COMBO_GAP:
        parts.append(texts[index + 1])
    return " ".join(parts)


def _matches(text: str, cues: Sequence[_Cue], *, narrated_past_cancels: bool = False) -> list[tuple[float, re.Match[str]]]:
    out = []
    for cue in cues:
        for match in cue.pattern.finditer(text):
            if cue.negatable and _negated(text, match.start()):
                continue
            if narrated_past_cancels and _NARRATED_PAST.search(_clause_before(text, match.start())):
                continue
            out.append((cue.weight, match))
    return out


def _combine(weights: Sequence[float]) -> float:
    """The strongest cue, plus 0.1 for each further one: "oh no, I died, game over" > "oh no"."""
    return max(weights) + 0.1 * (len(weights) - 1)


def _best(text: str, cues: Sequence[_Cue], *, narrated_past_cancels: bool = False) -> _Found | None:
    return _summarise(_matches(text, cues, narrated_past_cancels=narrated_past_cancels))


def _summarise(found: Sequence[tuple[float, re.Match[str]]]) -> _Found | None:
    """Evidence from the strongest cue; the moment from the first, when it started."""
    if not found:
        return None
    _, strongest = max(found, key=lambda item: (item[0], -item[1].start()))
    return _combine([w for w, _ in found]), strongest.span(), min(m.start() for _, m in found)


def _laugh_weight(match: re.Match[str]) -> float:
    """A run of two "ha" weighs 1.0, each further one +0.5 (up to four more): "hahahaha" is a
    bigger laugh than "haha"."""
    units = len(_HA_UNIT.findall(match.group(0)))
    return 1.0 + 0.5 * min(max(units - 2, 0), 4)


def _laughter(text: str) -> _Found | None:
    found = [(_laugh_weight(m), m) for m in _HA_RUN.finditer(text) if not _negated(text, m.start())]
    found += _matches(text, _LAUGH_CUES)
    summary = _summarise(found)
    if summary is None:
        return None
    # Intensity adds up: "haha" 0.55, "hahaha" 0.65, "[laughter]" 0.65, "hahaha lmao" 0.95.
    _, span, first = summary
    return 0.35 + 0.2 * sum(w for w, _ in found), span, first


def _clutch(text: str, neighbours: str) -> _Found | None:
    found = _matches(text, _CLUTCH_CUES)
    for match in _LETS_GO.finditer(text):
        # "let's go" alone is often "let's go left"; with a victory word it is a win.
        if _VICTORY_RX.search(text) or _VICTORY_RX.search(neighbours):
            found.append((_COMBO_WEIGHT, match))
            break
    return _summarise(found)


def _question_to_chat(text: str) -> _Found | None:
    """A question aimed at chat: "chat" in a question, "what do you guys think", "let me know in
    chat", or a "should I/we" decision. "What is this?" on its own is the streamer thinking aloud."""
    best: _Found | None = None
    for sentence in _SENTENCE.finditer(text):
        body = sentence.group(0)
        is_question = body.rstrip().endswith("?")
        weights: list[float] = []
        vocative = _CHAT_VOCATIVE.search(body)
        if vocative and (is_question or _QUESTION_START.search(body)):
            weights.append(0.85 if is_question else 0.75)
        if _SHOULD_START.search(body):
            weights.append(0.7 if is_question else 0.6)
        weights += [w for w, _ in _matches(body, _ASK_CUES)]
        if not weights:
            continue
        confidence = _combine(weights)
        if best is None or confidence > best[0]:
            best = confidence, sentence.span(), sentence.start()
    return best


# --- helpers ---------------------------------------------------------------------------------


def _negated(text: str, start: int) -> bool:
    """A cue right after "not", "never", "n't" or "almost" (one word may sit between) is
    cancelled: "I'm not dying", "that wasn't clutch", "we almost clutched it"."""
    return bool(_NEGATION_BEFORE.search(text[max(0, start - 30):start]))


def _clause_before(text: str, start: int) -> str:
    head = text[:start]
    cut = max(head.rfind("."), head.rfind("!"), head.rfind("?"), head.rfind(";"))
    return head[cut + 1:]


def _moment(segment: TimedSegment, text: str, offset: int) -> float:
    duration = max(segment.end - segment.start, 0.0)
    fraction = offset / len(text) if text else 0.0
    return round(segment.start + duration * fraction, 2)


def _evidence(text: str, start: int, end: int, *, limit: int = _MAX_EVIDENCE) -> str:
    """The clause around the trigger, as said, at most `limit` characters. A clause as short as
    "Clutch!" takes the next one along ("Clutch! No way, we got him ...") when it fits."""
    left = max(text.rfind(mark, 0, start) for mark in ".!?;") + 1
    right = _clause_end(text, max(start, end - 1))  # a trigger ending in "?" closes its own clause
    while right < len(text) and len(text[left:right].strip()) < _SHORT_CLAUSE:
        further = _clause_end(text, right)
        if len(text[left:further].strip()) > limit:
            break
        right = further
    clause = text[left:right]
    lead = len(clause) - len(clause.lstrip())
    clause = clause.strip()
    if len(clause) <= limit:
        return clause
    start, end = start - left - lead, end - left - lead
    if end - start >= limit - 1:
        return clause[start:start + limit - 1].rstrip() + "…"
    # A window centred on the trigger, cut on word boundaries, marked with "…" where cut.
    width = limit - 2
    first = max(0, start - (width - (end - start)) // 2)
    last = min(len(clause), first + width)
    first = max(0, last - width)
    if first > 0 and clause[first - 1] != " ":
        first = min(clause.find(" ", first) + 1 or start, start)
    if last < len(clause) and clause[last] != " ":
        last = max(clause.rfind(" ", 0, last), end)
    window = clause[first:last].strip()
    return ("…" if first > 0 else "") + window + ("…" if last < len(clause) else "")


def _clause_end(text: str, offset: int) -> int:
    """Index just past the clause's closing punctuation ("?!" included), or the end of text."""
    marks = [i for i in (text.find(mark, offset) for mark in ".!?;") if i != -1]
    right = min(marks) + 1 if marks else len(text)
    while right < len(text) and text[right] in ".!?":
        right += 1
    return right


def _merge(hits: Sequence[_Hit]) -> list[_Hit]:
    """One event per kind per burst: same-kind hits in segments under `_MERGE_GAP` apart."""
    merged: list[_Hit] = []
    open_by_kind: dict[str, int] = {}
    for hit in sorted(hits, key=lambda h: (h.segment_start, h.at_stream)):
        index = open_by_kind.get(hit.kind)
        if index is not None and hit.segment_start - merged[index].segment_end <= _MERGE_GAP:
            current = merged[index]
            stronger = hit if hit.confidence > current.confidence else current
            bump = 0.1 if hit.kind == "big_laugh" else 0.05  # sustained laughter is a bigger laugh
            merged[index] = _Hit(
                kind=hit.kind,
                confidence=round(min(_MAX_CONFIDENCE, max(hit.confidence, current.confidence) + bump), 3),
                at_stream=min(current.at_stream, hit.at_stream),
                evidence=stronger.evidence,
                segment_start=current.segment_start,
                segment_end=max(current.segment_end, hit.segment_end),
            )
            continue
        open_by_kind[hit.kind] = len(merged)
        merged.append(hit)
    return merged
