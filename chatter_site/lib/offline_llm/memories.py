"""Offline reflection and narratives: what a persona would remember of the chat it witnessed, and
its story written from those memories.

How it works: docs/architecture.md, "Inside the parts" › chatter_site/lib/offline_llm/memories.py."""
from __future__ import annotations

import re
import zlib
from collections import defaultdict
from typing import Any

from chatter_site.lib.offline_llm.phrases import noun_phrase, phrases_in
from chatter_site.lib.offline_llm.prompt import (
    STEERING_WORDS,
    STOPWORDS,
    author_name,
    read_block,
    texts_by_role,
    words_of,
)

PREFERENCE_RE = re.compile(
    r"(?i)^(?:honestly |tbh |ngl )?i (?:really |just |absolutely )?(love|like|hate|prefer|enjoy|main|can't stand|adore)\s+(.{3,80}?)[.!]*$"
)
FAVOURITE_RE = re.compile(r"(?i)^my (?:favou?rite|fav) ([\w ]{3,30}?) (?:is|are) (.{2,60}?)[.!]*$")
FIRST_TIME_RE = re.compile(r"(?i)\b(?:first time here|first time watching|first stream|new here)\b")
DISAGREE_RE = re.compile(r"(?i)\b(?:you'?re wrong|that'?s wrong|bad take|disagree|nah you|no way that|terrible take)\b")
NICKNAME_RE = re.compile(r"(?i)\bcall me ([A-Za-z][\w-]{1,20})\b")
VERB_THIRD = {"love": "loves", "like": "likes", "hate": "hates", "prefer": "prefers", "enjoy": "enjoys", "main": "mains",
              "can't stand": "can't stand", "adore": "adores"}
AUX = ("is", "was", "are", "were", "does", "did", "do", "can", "could", "will", "would", "should", "has", "have")
SUBJECT_SWAP = {"you": "I", "i": "they", "we": "we", "it": "it", "this": "this", "that": "that", "he": "he", "she": "she", "they": "they"}


# A question is worth remembering only when it weighs something specific: it tells what the asker
# is thinking about trying or doubting. "was that a gold split?", "thoughts on the run?" say nothing.
STANCE_RE = re.compile(r"(?i)\b(?:worth|risk\w*|safer|faster|slower|better|worse|easier|harder|should (?:i|we|he|she|they)|instead of)\b")
VAGUE_TOPICS = {"run", "stream", "game", "moment", "split", "gold split", "attempt", "attempts", "chat", "music", "reset"}
TRAILING_RE = re.compile(r"(?i)\s+(?:in this game|in this one|in this run|on this stream|here|too|tbh|honestly)$")


def pick(options: tuple[str, ...], *keys: str) -> str:
    """One of the phrasings, the same for the same keys (stable across runs, varied across viewers)."""
    return options[zlib.crc32("|".join(keys).lower().encode()) % len(options)]


def _specific_question(text: str) -> bool:
    named = [p.text.lower() for p in phrases_in(_clean(text))]
    return bool(STANCE_RE.search(text)) and any(n not in VAGUE_TOPICS for n in named)


def _question_memory(me: str, asker: str, text: str) -> str | None:
    """A specific question as a memory of the asker ("nina was weighing whether …"); None for small talk."""
    if not _specific_question(text) or not (reported := _reported_question(asker, text)):
        return None
    if not (clause := reported.removeprefix(f"{asker} asked me whether ")) or clause == reported:
        return None
    return pick((f"{asker} asked me whether {clause}", f"{asker} was weighing whether {clause}, and wanted my take",
                 f"{asker} wanted my honest read on whether {clause}"), me, asker, clause)


def _disagreement(me: str, author: str, text: str) -> str:
    """What the viewer pushed back on, with their own claim when they gave one."""
    rest = _clean(DISAGREE_RE.split(_clean(text), maxsplit=1)[-1]).strip(" ,.!-")
    named = phrases_in(rest or text)
    if rest and 3 <= len(rest.split()) <= 10 and named and _safe(rest):
        return pick((f"{author} pushed back on my take: to them {rest}", f"{author} called my take on it wrong, because {rest}"),
                    me, author, rest)
    about = f"about the {named[0].text}" if named else "about my last take"
    return f"{author} disagreed with me {about}"


def _preference(me: str, author: str, verb: str, thing: str) -> str:
    third = VERB_THIRD[verb]
    if verb == "main":
        return pick((f"{author} mains {thing}", f"{author} told me {thing} is their main", f"{author} plays {thing} as their main"),
                    me, author, thing)
    return pick((f"{author} {third} {thing}", f"{author} told me they {verb} {thing}",
                 f"{author} said straight out that they {verb} {thing}"), me, author, thing)


def _favourite(me: str, author: str, kind: str, thing: str) -> str:
    return pick((f"{author}'s favourite {kind} is {thing}", f"{author} told me {thing} is their favourite {kind}",
                 f"{author} picks {thing} as their favourite {kind}"), me, author, thing)


def _first_visit(me: str, author: str) -> str:
    return pick((f"{author} said it was their first time here", f"{author} was new to the room when we talked",
                 f"{author} told me it was their first visit"), me, author)


def _persona(system: str) -> str:
    match = re.search(r"You are @?([\w.-]{2,40}),", system)
    return match.group(1) if match else ""


def _clean(text: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"@[\w.-]+", " ", text)).strip(" ,")


def _safe(text: str) -> bool:
    return not {w.lower() for w in words_of(text)} & STEERING_WORDS and "http" not in text.lower()


def _reported_question(asker: str, text: str) -> str | None:
    """A viewer's question as reported speech: "was that a gold split?" → "asked me whether that was a gold split"."""
    question = _clean(text).rstrip("?!. ").strip()
    words = question.split()
    if not 2 <= len(words) <= 16 or not _safe(question):
        return None
    lowered = [w.lower() for w in words]
    if lowered[0] in ("hey", "so", "ok", "okay", "yo"):
        words, lowered = words[1:], lowered[1:]
    if not words:
        return None
    if re.search(r"\brate\b|out of (?:10|ten)", question, re.I):
        named = phrases_in(question)
        return f"{asker} asked me to rate the {named[0].text}" if named else f"{asker} asked me for a rating out of ten"
    if " ".join(lowered[:4]) == "what do you think" or " ".join(lowered[:3]) == "thoughts on you":
        rest = " ".join(words[4:]).removeprefix("about ").strip()
        named = phrases_in(rest) or ([p] if (p := noun_phrase(rest)) else [])
        return f"{asker} asked what I thought about the {named[0].text}" if named else None
    if lowered[:2] in (["can", "you"], ["could", "you"], ["would", "you"]) and len(words) > 2 and lowered[2] in ("explain", "tell", "show", "help", "rate"):
        return f"{asker} asked me to {' '.join(words[2:])}"
    if lowered[0] in AUX and len(words) >= 3:
        aux = lowered[0]
        if lowered[1] in SUBJECT_SWAP:
            subject, after = SUBJECT_SWAP[lowered[1]], words[2:]
        elif lowered[1] in ("the", "this", "that", "a", "an"):
            named = phrases_in(" ".join(words[1:5]))
            if not named:
                return None
            size = len(named[0].words) + 1
            subject, after = " ".join(words[1 : 1 + size]).lower(), words[1 + size :]
        else:
            return None
        aux = {"is": "was", "are": "were", "do": "did", "does": "did", "can": "could", "will": "would", "has": "had",
               "have": "had"}.get(aux, aux)
        if subject == "I" and aux == "were":
            aux = "was"
        rest_text = " ".join(after).replace(" here", " there").replace(" you", " me")
        if aux in ("did",):
            return f"{asker} asked me whether {subject} {rest_text}".strip()
        return f"{asker} asked me whether {subject} {aux} {rest_text}".strip()
    if lowered[0] == "how" and len(lowered) > 2 and lowered[1] in ("many", "much"):
        counted = noun_phrase(lowered[2], topic=True)
        return f"{asker} asked me how many {counted.text} there had been" if counted else None
    if lowered[0] in ("what", "which", "who", "why", "where", "when"):
        named = phrases_in(question) or [p for p in (noun_phrase(w) for w in lowered[1:3]) if p]
        return f"{asker} asked me a question about the {named[0].text}" if named else None
    return None


def reflection_deltas(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The durable deltas in the chat of a reflection request; an empty list for chit-chat."""
    system = texts_by_role(messages, ("system", "developer"))
    me = _persona(system).lower()
    chat = read_block(texts_by_role(messages, ("user",)), "chat")
    rows = [row for row in chat if isinstance(row, dict)] if isinstance(chat, list) else []
    deltas: list[dict[str, Any]] = []
    said_by: dict[str, set[str]] = defaultdict(set)
    first_seq: dict[str, int] = {}
    # Whom this persona talked with, and about what: what a viewer tells the room is this persona's
    # memory only when they talked with each other or about the same thing.
    own = [str(r.get("text") or "") for r in rows if author_name(r.get("author")).endswith("(you)")]
    talked_to = {m.lower() for text in own for m in re.findall(r"@([\w.-]+)", text)}
    own_words = {w.lower() for text in own for w in words_of(text) if len(w) > 3 and w.lower() not in STOPWORDS}
    for row in rows:
        author = author_name(row.get("author"))
        text = str(row.get("text") or "")
        seq = row.get("seq") if isinstance(row.get("seq"), int) else None
        if not author or author.endswith("(you)") or not _safe(text):
            continue
        phrase = " ".join(w.lower() for w in text.split() if w.isalpha() or "'" in w)
        # A running bit is a whole short line several chatters say, not a question to someone.
        if 2 <= len(phrase.split()) <= 6 and "?" not in text and "@" not in text and len(phrase.split()) >= len(text.split()) - 2:
            said_by[phrase].add(author.lower())
            first_seq.setdefault(phrase, seq or 0)
        if row.get("origin") != "human":
            continue
        mentions = {m.lower() for m in re.findall(r"@([\w.-]+)", text)}
        to_me = me and me in mentions
        if mentions and not to_me:
            continue  # what another persona was asked is that persona's memory
        base = {"other_user": author, "subject": author.lower(), "evidence_seq": seq}
        ours = to_me or author.lower() in talked_to
        if to_me and "?" in text and (asked := _question_memory(me, author, text)):
            deltas.append({**base, "kind": "relationship", "text": asked, "confidence": "med"})
        elif to_me and DISAGREE_RE.search(text):
            deltas.append({**base, "kind": "relationship", "text": _disagreement(me, author, text), "confidence": "med"})
        if not ours:
            continue
        if match := PREFERENCE_RE.match(_clean(text)):
            verb, thing = match.group(1).lower(), re.split(r"[,;!?]| - ", match.group(2))[0].strip()
            thing = TRAILING_RE.sub("", thing)
            if 1 <= len(thing.split()) <= 8:
                deltas.append({**base, "kind": "preference", "subject": thing.lower()[:60],
                               "text": _preference(me, author, verb, thing), "confidence": "low"})
        elif match := FAVOURITE_RE.match(_clean(text)):
            thing = TRAILING_RE.sub("", match.group(2))
            deltas.append({**base, "kind": "preference", "subject": thing.lower(),
                           "text": _favourite(me, author, match.group(1), thing), "confidence": "low"})
        if FIRST_TIME_RE.search(text):
            deltas.append({**base, "kind": "relationship", "text": _first_visit(me, author), "confidence": "low"})
        if match := NICKNAME_RE.search(text):
            deltas.append({**base, "kind": "relationship", "text": f"{author} likes to be called {match.group(1)}", "confidence": "low"})
    for phrase, authors in said_by.items():
        # The room's bit is this persona's memory when it took part, or talks about the same thing.
        if len(authors) < 3 or phrase in ("lets go", "let's go") or not ({w for w in phrase.split() if len(w) > 3} & own_words):
            continue
        named = phrases_in(phrase)
        trigger = f"the {named[0].text} comes up" if named else "something big happens on stream"
        deltas.append({"kind": "catchphrase", "other_user": "", "subject": phrase, "evidence_seq": first_seq.get(phrase),
                       "text": f"{trigger} -> chat types \"{phrase}\"", "confidence": "med"})
    return deltas[:12]
