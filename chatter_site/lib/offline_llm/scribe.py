"""The offline provider as a scribe, in the three styles the scribe's prompt names.

A scribe request carries the current document and the new turns in `<<scribe-document>>` and
`<<scribe-turns>>` blocks and wants the complete updated document back. Offline, the document keeps
everything it had (minus the starting placeholder, an italic line) and gains one short piece per
turn, retold (never "X says: …"): literary prose in the past tense, factual minutes (one bullet per
point), or a conversational recap in the present tense, picked from the style guide in the system
message. Like a real model asked to stay within its answer budget (the request's max tokens), it
condenses: once the document nears the budget, the oldest pieces give way to one line counting
them, so a long, busy room never grows the document past what the model may answer.
"""
from __future__ import annotations

import random
import re
from typing import Any

from chatter_site.lib.offline_llm.memories import _reported_question
from chatter_site.lib.offline_llm.phrases import phrases_in
from chatter_site.lib.offline_llm.prompt import read_block, texts_by_role

CONDENSE_AT = 0.9  # of the answer budget, in words
CONDENSE_TO = 0.75  # well above the scribe's minimum keep ratio, so a condensed answer is accepted
_CONDENSED_RE = re.compile(r"^\(… (\d+) earlier turns condensed\)$")
LAUGH_RE = re.compile(r"(?i)\b(?:lol|lmao|haha\w*|kekw|omegalul|lul)\b")
HYPE_RE = re.compile(r"(?i)\b(?:pog\w*|hype\w*|lets go+|let's go+|clutch|insane|no way)\b")

# Per style: (question, answer to someone, laughter, hype, remark about a thing, remark) templates.
STYLES: dict[str, dict[str, tuple[str, ...]]] = {
    "literary": {
        "question": ("{Q}, and the chat waited for the answer.", "Curious, {a} wanted to know more about the {t}.", "{a} wondered aloud about the {t}."),
        "reply": ("{a} turned to {b} with an answer of their own.", "{a} answered {b}, unhurried.", "{b} had spoken, and {a} replied."),
        "laugh": ("Laughter rippled from {a}, and the room caught it.", "{a} laughed, and for a moment nobody minded the run."),
        "hype": ("{a} could not contain it and let out a cheer.", "A roar went up from {a}, loud as the moment deserved."),
        "thing": ("{a} had eyes only for the {t}.", "The {t} caught {a}'s attention, and they said as much.", "{a} murmured something about the {t}."),
        "plain": ("{a} added a quiet word to the chatter.", "{a} spoke up, briefly, and the chat moved on.", "{a} had a thought, and shared it."),
    },
    "factual": {
        "question": ("- {Q}.", "- {a} asked about the {t}."),
        "reply": ("- {a} responded to {b}.", "- {a} answered a question from {b}."),
        "laugh": ("- {a} reacted with laughter.",),
        "hype": ("- {a} reacted with excitement.",),
        "thing": ("- {a} commented on the {t}.", "- {a} raised the {t}."),
        "plain": ("- {a} contributed a comment.",),
    },
    "conversational": {
        "question": ("Then {a} pops in asking about the {t}, fair question honestly.", "{a} wants to know about the {t}, so that's a thing now.", "So {q}, which, fair."),
        "reply": ("{a} jumps in to answer {b}, of course.", "{b} gets an answer from {a} pretty much right away."),
        "laugh": ("{a} is cracking up, and honestly same.", "Cue {a} laughing at the whole thing."),
        "hype": ("{a} is losing it in the best way.", "And {a} is hyped, naturally."),
        "thing": ("{a} can't stop talking about the {t}.", "{a} has opinions about the {t}, as you'd expect."),
        "plain": ("{a} chimes in too.", "{a} drops a quick comment and moves on."),
    },
}


def style_of(system: str) -> str:
    lowered = system.lower()
    if "factual account" in lowered or "minutes" in lowered:
        return "factual"
    if "conversational recap" in lowered:
        return "conversational"
    return "literary"


def retell(turn: dict[str, Any], *, style: str) -> str | None:
    """One turn retold in the style, or None for an empty one."""
    text = str(turn.get("text") or "").strip()
    author = re.sub(r"[^\w.-]", "", str(turn.get("author") or "Someone"))[:40] or "Someone"
    if not text:
        return None
    rng = random.Random(f"{turn.get('seq')}|{author}|{text}")
    named = phrases_in(re.sub(r"@[\w.-]+", " ", text))
    mentioned = re.findall(r"@([\w.-]+)", text)
    values = {"a": author, "b": mentioned[0] if mentioned else "", "t": named[0].text if named else ""}
    kind = "plain"
    if text.rstrip().endswith("?"):
        reported = _reported_question(author, text)
        if reported:  # "nina asked me whether ..." → "nina asked DryWitDelia whether ..."
            target = mentioned[0] if mentioned else "the chat"
            values["Q"] = re.sub(r"\bme\b", target, reported).replace("what I thought", f"what {target} thought")
            values["q"] = values["Q"].replace(" asked ", " asks ", 1)
        kind = "question"
    elif mentioned and turn.get("origin") == "bot":
        kind = "reply"
    elif LAUGH_RE.search(text):
        kind = "laugh"
    elif HYPE_RE.search(text) or (text.isupper() and len(text) > 3):
        kind = "hype"
    elif named:
        kind = "thing"
    options = [t for t in STYLES[style][kind] if all(values.get(slot) for slot in re.findall(r"\{(\w+)\}", t))]
    if not options:
        options = [t for t in STYLES[style]["thing" if named else "plain"] if all(values.get(s) for s in re.findall(r"\{(\w+)\}", t))]
    return rng.choice(options).format(**{k: v for k, v in values.items() if v} | {"b": values["b"] or "someone"})


def _is_placeholder(line: str) -> bool:
    stripped = line.strip()
    return len(stripped) > 2 and stripped.startswith("_") and stripped.endswith("_") and "scribe" in stripped.lower()


def _condense(text: str, max_words: int) -> str:
    """Drop the oldest paragraphs (counted in one line under the header) to fit the budget."""
    if len(text.split()) <= max_words * CONDENSE_AT:
        return text
    header, _, rest = text.partition("\n")
    paragraphs = [block for block in rest.split("\n\n") if block.strip()]
    condensed = 0
    if paragraphs and (match := _CONDENSED_RE.match(paragraphs[0].strip())):
        condensed = int(match.group(1))
        paragraphs = paragraphs[1:]
    words = len(header.split()) + 4 + sum(len(block.split()) for block in paragraphs)
    while len(paragraphs) > 1 and words > max_words * CONDENSE_TO:
        words -= len(paragraphs.pop(0).split())
        condensed += 1
    return "\n\n".join([header, f"(… {condensed} earlier turns condensed)", *paragraphs])


def compose_scribe_document(messages: list[dict[str, Any]], *, max_words: int | None = None) -> str | None:
    """The updated document, or None when the request is not a scribe update."""
    user = texts_by_role(messages, ("user",))
    document = read_block(user, "scribe-document")
    turns = read_block(user, "scribe-turns")
    if not isinstance(document, str) or not isinstance(turns, list):
        return None
    style = style_of(texts_by_role(messages, ("system", "developer")))
    text = "\n".join(line for line in document.rstrip().split("\n") if not _is_placeholder(line)).rstrip()
    for turn in turns:
        if isinstance(turn, dict) and (piece := retell(turn, style=style)):
            text += f"\n\n{piece}"
    if max_words:
        text = _condense(text, max_words)
    return text + "\n"
