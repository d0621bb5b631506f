"""Offline reflection and narratives: what a persona would remember of the chat it witnessed, and
its story written from those memories.

Reflection writes a memory only when there is something to remember, and phrases it as one:
  - a viewer asked this persona something          → relationship: "nina asked me whether that was a gold split"
  - a viewer disagreed with it                     → relationship: "nina disagreed with me about the fireball skip"
  - a viewer said what they like, hate or main     → preference:   "alice loves speedruns and frame perfect tricks"
  - a viewer said it was their first time here     → relationship: "nina said it was their first time here"
    (what a viewer tells the room counts for a persona that talked with them or about the same thing)
  - several chatters repeat the same words         → catchphrase:  "a clutch on stream -> chat types \"gg on the clutch\""
Greetings, reactions and chit-chat leave nothing. What another persona was asked is not this
persona's memory. Everything comes from the reflection prompt: the persona is the one named in the
system message, its own lines are marked "(you)", each line carries its seq.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from chatter_site.lib.offline_llm.phrases import noun_phrase, phrases_in
from chatter_site.lib.offline_llm.prompt import STEERING_WORDS, STOPWORDS, author_name, read_block, texts_by_role, words_of

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
            subject, rest = SUBJECT_SWAP[lowered[1]], words[2:]
        elif lowered[1] in ("the", "this", "that", "a", "an"):
            named = phrases_in(" ".join(words[1:5]))
            if not named:
                return None
            size = len(named[0].words) + 1
            subject, rest = " ".join(words[1 : 1 + size]).lower(), words[1 + size :]
        else:
            return None
        aux = {"is": "was", "are": "were", "do": "did", "does": "did", "can": "could", "will": "would", "has": "had",
               "have": "had"}.get(aux, aux)
        if subject == "I" and aux == "were":
            aux = "was"
        rest_text = " ".join(rest).replace(" here", " there").replace(" you", " me")
        if aux in ("did",):
            return f"{asker} asked me whether {subject} {rest_text}".strip()
        return f"{asker} asked me whether {subject} {aux} {rest_text}".strip()
    if lowered[0] == "how" and len(lowered) > 2 and lowered[1] in ("many", "much"):
        named = noun_phrase(lowered[2], topic=True)
        return f"{asker} asked me how many {named.text} there had been" if named else None
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
    human_lines: dict[str, str] = {}
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
        if to_me and "?" in text and (reported := _reported_question(author, text)):
            deltas.append({**base, "kind": "relationship", "text": reported, "confidence": "med"})
        elif to_me and DISAGREE_RE.search(text):
            named = phrases_in(text)
            about = f"about the {named[0].text}" if named else "about my last take"
            deltas.append({**base, "kind": "relationship", "text": f"{author} disagreed with me {about}", "confidence": "med"})
        if not ours:
            continue
        if match := PREFERENCE_RE.match(_clean(text)):
            verb, thing = match.group(1).lower(), re.split(r"[,;!?]| - ", match.group(2))[0].strip()
            if 1 <= len(thing.split()) <= 8:
                deltas.append({**base, "kind": "preference", "subject": thing.lower()[:60],
                               "text": f"{author} {VERB_THIRD[verb]} {thing}", "confidence": "low"})
        elif match := FAVOURITE_RE.match(_clean(text)):
            deltas.append({**base, "kind": "preference", "subject": match.group(2).lower(),
                           "text": f"{author}'s favourite {match.group(1)} is {match.group(2)}", "confidence": "low"})
        if FIRST_TIME_RE.search(text):
            deltas.append({**base, "kind": "relationship", "text": f"{author} said it was their first time here", "confidence": "low"})
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


# --- narratives -------------------------------------------------------------------------------------

MEMORY_LINE_RE = re.compile(r"^\[(?P<kind>\w+), (?P<confidence>\w+), room (?P<room>[\w-]+)\](?: \(about (?P<about>[^)]+)\))?(?: \(remembered by (?P<by>[^)]+)\))? (?P<text>.+)$")


def _sentence(text: str) -> str:
    text = text.strip().rstrip(".")
    return text[:1].upper() + text[1:] + "."


def narrative_text(messages: list[dict[str, Any]]) -> str | None:
    """A persona's or viewer's narrative in prose from the memories in a narrative request, or None
    when the request is not one."""
    system = texts_by_role(messages, ("system", "developer"))
    user = texts_by_role(messages, ("user",))
    persona = re.search(r"self-narrative of the chat persona @([\w.-]+)", system)
    viewer_name = None
    if re.search(r"short narrative about a regular viewer", system):  # the name comes as data
        block = read_block(user, "viewer")
        viewer_name = str(block.get("name") or "") if isinstance(block, dict) else ""
    elif named := re.search(r"short narrative about @([\w.-]+), a regular viewer", system):
        viewer_name = named.group(1)
    if not (persona or viewer_name):
        return None
    memories = [m for m in read_block(user, "memories") or [] if isinstance(m, str)]
    lines = [m for m in read_block(user, "chat") or [] if isinstance(m, dict)]
    parsed, seen = [], set()
    for memory in memories:
        match = MEMORY_LINE_RE.match(memory.strip())
        if match and (match["text"].lower(), match["by"]) not in seen:
            seen.add((match["text"].lower(), match["by"]))
            parsed.append(match.groupdict())
    rooms = sorted({p["room"] for p in parsed} | {str(m.get("room")) for m in lines if m.get("room")})
    where = f"the {rooms[0]} room" if len(rooms) == 1 else "these rooms" if rooms else "this chat"
    if persona:
        return _persona_story(persona.group(1), parsed, lines, where)
    return _viewer_story(re.sub(r"[^\w.-]", "", viewer_name or "")[:40] or "This viewer", parsed, lines, where)


def _topics(memories: list[dict]) -> list[str]:
    """What the memories are about ("the gold split", "the music"), most mentioned first."""
    counts: dict[str, int] = defaultdict(int)
    for memory in memories:
        for phrase in phrases_in(memory["text"]):
            counts[phrase.text] += 1
    return sorted(counts, key=lambda text: -counts[text])[:3]


def _persona_story(handle: str, memories: list[dict], lines: list[dict], where: str) -> str:
    parts = [f"I am {handle}, one of the regulars in {where}."]
    topics = _topics(memories)
    if topics:
        parts.append(f"People here keep coming to me about the {' and the '.join(topics[:2])}.")
    by_person: dict[str, list[str]] = defaultdict(list)
    others = []
    for memory in memories:
        about = memory.get("about")
        (by_person[about] if about else others).append(memory["text"])
    openers = ("I remember {p} well:", "{p} stands out:", "Then there is {p}:", "I keep thinking about {p}:")
    for index, (person, texts) in enumerate(list(by_person.items())[:4]):
        things = list(dict.fromkeys(texts))
        later = things[1].removeprefix(f"{person} ").strip() if len(things) > 1 else ""
        said = things[0] + (f", and later {later}" if later and not later.startswith(f"{person}'s") else f"; also, {later}" if later else "")
        more = f" ({len(things) - 2} more exchanges after that)" if len(things) > 2 else ""
        parts.append(f"{openers[index % len(openers)].format(p=person)} {said}{more}.")
    for text in others[:2]:
        parts.append(f"There is a running bit I keep noticing: {text.replace(' -> ', ', and then ')}.")
    if len(memories) > 4:
        parts.append(f"All told I carry {len(memories)} memories from here, most of them about the people who talk to me.")
    closers = (
        "These are the moments that made this place feel like mine.",
        "That is who I have been here, and I intend to keep it that way.",
        "Most of what I know about this room, I learned from the people in it.",
        "I would not trade this chat for a quieter one.",
    )
    parts.append(closers[sum(map(ord, handle)) % len(closers)])
    return " ".join(parts)


def _viewer_story(username: str, memories: list[dict], lines: list[dict], where: str) -> str:
    parts = [f"{username} is a regular viewer in {where}."]
    topics = _topics([m for m in memories if (m.get("about") or "").lower() == username.lower()])
    if topics:
        parts.append(f"They tend to talk about the {' and the '.join(topics[:2])}.")
    remembered = [m for m in memories if (m.get("about") or "").lower() == username.lower()] or memories
    by = sorted({m.get("by") for m in remembered if m.get("by")})
    if len(by) == 1:
        parts.append(f"{by[0]} remembers them well.")
    elif by:
        parts.append(f"Several of the cast remember them, among them {' and '.join(by[:2]) if len(by) == 2 else ', '.join(by[:2]) + ' and ' + by[2]}.")
    told = set()
    for memory in remembered:
        if memory["text"].lower() in told or len(told) >= 3:
            continue
        told.add(memory["text"].lower())
        who = memory.get("by") or "one of the personas"
        text = re.sub(r"\bme\b", who, memory["text"]).replace(" my ", f" {who}'s ")
        text = re.sub(r"\bI thought\b", f"{who} thought", text)
        text = re.sub(r"\bI (would|could|was|did)\b", r"they \1", text)
        parts.append(_sentence(text))
    parts.append("In chat they come across as engaged and curious, and the room knows them by their questions.")
    return " ".join(parts)
