"""Offline narratives: a persona's story in the first person, a viewer's in the third, as prose
written from the memories in the narrative request.

Every sentence carries a whole memory (a full clause naming its viewer), so no fragment is left
dangling and no verb loses its subject. Whether a viewer is a first-timer or a regular is decided
from the evidence (a remembered first visit wins), never asserted both ways.
"""
from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from chatter_site.lib.offline_llm.memories import pick
from chatter_site.lib.offline_llm.phrases import phrases_in
from chatter_site.lib.offline_llm.prompt import read_block, texts_by_role

MEMORY_LINE_RE = re.compile(r"^\[(?P<kind>\w+), (?P<confidence>\w+), room (?P<room>[\w-]+)\](?: \(about (?P<about>[^)]+)\))?(?: \(remembered by (?P<by>[^)]+)\))? (?P<text>.+)$")
FIRST_VISIT_RE = re.compile(r"(?i)\b(?:first time here|first visit|new to the room)\b")
# Deictic questions ("whether that was …") lose their referent once retold; they are left out.
OPINION_RE = re.compile(r"(?i)\b(?:loves?|likes?|hates?|mains?|favourite|pushed back|disagreed|called my take)\b")
QUESTION_RE = re.compile(r"(?i)\basked\b")
DANGLING_RE = re.compile(r"(?i)\bwhether (?:that|this|it|there)\b|\b(?:there|that one)\s*$")


def _sentence(text: str) -> str:
    """A memory as a sentence; handles keep their case (chat writes them lowercase), so "nina" stays "nina"."""
    text = text.strip().rstrip(".")
    return text + "."


def _usable(memory: dict) -> bool:
    return not DANGLING_RE.search(memory["text"])


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
        return persona_story(persona.group(1), parsed, where)
    return viewer_story(re.sub(r"[^\w.-]", "", viewer_name or "")[:40] or "this viewer", parsed, where)


def persona_story(handle: str, memories: list[dict], where: str) -> str:
    usable = [m for m in memories if _usable(m)]
    by_person: dict[str, list[str]] = defaultdict(list)
    bits: list[str] = []
    for memory in usable:
        about = memory.get("about")
        (by_person[about] if about else bits).append(memory["text"])
    if not by_person and not bits:
        return pick((f"Nobody in {where} has told me much about themselves yet; so far I mostly watch the run with them.",
                     f"So far {where} is a room of strangers to me: I have talked along with the run, but nobody has told me much yet."),
                    handle)
    parts = [pick((f"What stays with me from {where} is the people more than the run.",
                   f"I know {where} through the people who talk to me there.",
                   f"Most of what I know about {where} I learned from the chatters in it."), handle)]
    joins = ("Also, {t}.", "Besides that, {t}.", "On top of that, {t}.")
    first_timers = []
    for index, (person, texts) in enumerate(list(by_person.items())[:4]):
        things = list(dict.fromkeys(texts))[:3]
        if any(FIRST_VISIT_RE.search(t) for t in things):
            first_timers.append(person)
        parts.append(_sentence(things[0]))
        parts.extend(joins[(index + n) % len(joins)].format(t=t.rstrip(".")) for n, t in enumerate(things[1:]))
    for text in bits[:1]:
        parts.append(f"There is also a running bit in chat: when {text.replace(' -> chat types ', ', chat types ')}.")
    if first_timers:
        names = " and ".join(first_timers[:2])
        come = "come" if len(first_timers) > 1 else "comes"
        parts.append(pick((f"I hope {names} {come} back; a first visit is when a chat shows whether it is friendly.",
                           f"I want {names} to find the room as welcoming the second time."), handle, names))
    else:
        parts.append(_closing(handle, [m for m in usable if m.get("about")]))
    return " ".join(parts)


def _closing(handle: str, memories: list[dict]) -> str:
    """The last sentence says what the facts were: opinions, questions, both, or neither."""
    opinions = any(m["kind"] == "preference" or OPINION_RE.search(m["text"]) for m in memories)
    questions = any(QUESTION_RE.search(m["text"]) for m in memories)
    if opinions and questions:
        return "That is the room as I know it: people with opinions, and me answering them."
    if opinions:
        return "That is the room as I know it: people who say plainly what they like and what they do not."
    if questions:
        return "That is the room as I know it: people with questions, and me doing my best to answer them."
    return pick(("These are the people who made the room feel like mine.",
                 "That is what I know of the people here so far, and I would like to know more."), handle)


def _third_person(text: str, who: str) -> str:
    """A persona's first-person memory retold about the viewer: "told me" → "told DryWitDelia"."""
    text = re.sub(r"\bme\b", who, text)
    text = re.sub(r"\bmy\b", f"{who}'s", text)
    return re.sub(r"\bI (was|were)\b", f"{who} was", re.sub(r"\bI\b", who, text))


def viewer_story(username: str, memories: list[dict], where: str) -> str:
    about = [m for m in memories if (m.get("about") or "").lower() == username.lower() and _usable(m)]
    by = sorted({str(m["by"]) for m in about if m.get("by")})
    first_visit = [m for m in about if FIRST_VISIT_RE.search(m["text"])]
    if first_visit:
        who = first_visit[0].get("by") or "the cast"
        parts = [f"{username} is new to {where}: they told {who} it was their first visit."]
    elif not about:
        return f"{username} has been in {where}, but the cast does not know much about them yet."
    told: set = set()
    retold: list[str] = []
    cited: list[str] = []
    for memory in about:
        # Two personas remembering the same question in other words is one fact about the viewer.
        key = frozenset(p.text for p in phrases_in(memory["text"])) or memory["text"].lower()
        if memory in first_visit or key in told or len(told) >= 3:
            continue
        told.add(key)
        who = memory.get("by") or "one of the personas"
        cited += [who] if memory.get("by") and who not in cited else []
        retold.append(_sentence(_third_person(memory["text"], who)))
    if not first_visit:
        # Everyone the narrative cites is named among those who know the viewer.
        known = cited + [b for b in by if b not in cited][: max(0, 2 - len(cited))]
        if len(about) >= 3 or len(by) >= 2:
            names = ", ".join(known[:-1]) + f" and {known[-1]}" if len(known) >= 2 else (known[0] if known else "the cast")
            parts = [f"{username} is a familiar name in {where}; {names} {'know' if len(known) >= 2 else 'knows'} them."]
        else:
            parts = [f"{username} has talked with {known[0] if known else 'the cast'} in {where}."]
    parts += retold
    kinds = {m["kind"] for m in about}
    if len(parts) == 1:
        parts.append("Beyond that the cast knows little about them so far.")
    elif "preference" in kinds:
        parts.append("They know what they like in this game and say so.")
    elif any("wrong" in m["text"] or "pushed back" in m["text"] or "disagreed" in m["text"] for m in about):
        parts.append("They are not shy about arguing a point.")
    return " ".join(parts)
