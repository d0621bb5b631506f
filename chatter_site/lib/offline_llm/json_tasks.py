"""JSON-mode answers: Mem0's extraction and update calls, `<<json-schema>>` instances, else a summary."""
from __future__ import annotations

import ast
import json
import math
import re
from datetime import UTC, datetime
from typing import Any

from chatter_site.lib.offline_llm.memories import reflection_deltas
from chatter_site.lib.offline_llm.narrative_prose import narrative_text
from chatter_site.lib.offline_llm.prompt import (
    STEERING_WORDS,
    author_name,
    message_text,
    read_block,
    strip_blocks,
    texts_by_role,
    words_of,
)

FACT_VERBS = (
    r"is|are|was|were|likes|loves|hates|prefers|has|plays|mains|enjoys|wants|owns|uses|watches|supports|thinks|calls|said"
)
FIRST_PERSON_VERBS = (
    "love like hate prefer enjoy play main watch want need dislike support own use think always never".split()
)


def third_person(verb: str) -> str:
    if verb in ("always", "never"):
        return verb
    if verb.endswith(("ch", "sh", "s", "x")):
        return verb + "es"
    return verb + "s"


def sentence_fact(sentence: str, subject: str) -> str | None:
    sentence = re.sub(r"\s+", " ", sentence).strip().strip("\"'`")
    if not sentence or sentence.endswith("?"):
        return None
    sentence = sentence.rstrip(".! ")
    sentence = re.sub(r"(?i)^(?:hi|hello|hey|yo|so|well|ok|okay)\b[,!.]?\s*", "", sentence)
    words = sentence.split()
    if not 3 <= len(words) <= 25 or set(w.lower() for w in words_of(sentence)) & STEERING_WORDS:
        return None
    match = re.match(r"(?i)^i\s+(?:really\s+|do\s+)?(\w+)\s+(.+)$", sentence)
    if match and match.group(1).lower() in FIRST_PERSON_VERBS:
        return f"{subject} {third_person(match.group(1).lower())} {match.group(2)}"
    match = re.match(r"(?i)^(?:i'm|im|i am)\s+(.+)$", sentence)
    if match:
        return f"{subject} is {match.group(1)}"
    match = re.match(r"(?i)^(?:i have|i've got|ive got)\s+(.+)$", sentence)
    if match:
        return f"{subject} has {match.group(1)}"
    match = re.match(r"(?i)^my\s+(\w+(?:\s\w+)?)\s+(is|are|was)\s+(.+)$", sentence)
    if match:
        return f"{subject}'s {match.group(1)} {match.group(2).lower()} {match.group(3)}"
    if re.match(r"(?i)^(?:i|you|we|let's|please|do|don't)\b", sentence):
        return None
    if re.search(rf"(?i)\b(?:{FACT_VERBS})\b", sentence):
        return sentence
    return None


def conversation_lines(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(speaker, text) pairs to extract from: Mem0's "New Messages", a `<<chat>>` block, or the user text."""
    user = texts_by_role(messages, ("user",))
    section = re.search(r"(?ms)^## New Messages\s*\n(.*?)(?=^## |\Z)", user)
    if section:
        raw = section.group(1).strip()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        if isinstance(parsed, list):
            return [(str(m.get("name") or m.get("role") or "user"), message_text(m)) for m in parsed if isinstance(m, dict)]
        return [("user", line) for line in str(parsed).splitlines()]
    chat = read_block(user, "chat")
    if isinstance(chat, list):
        return [(author_name(m.get("author")) or "user", str(m.get("text") or "")) for m in chat if isinstance(m, dict)]
    return [("user", line) for line in strip_blocks(user).splitlines()]


def extract_facts(messages: list[dict[str, Any]], *, limit: int = 5) -> list[tuple[str, str]]:
    """Short declarative sentences found in the conversation, as (fact, speaker role)."""
    facts: list[tuple[str, str]] = []
    seen: set[str] = set()
    for speaker, text in conversation_lines(messages):
        for line in text.splitlines():
            named = re.match(r"^\s*([\w.-]{2,32}):\s+(.+)$", line)
            who, body = (named.group(1), named.group(2)) if named else (speaker, line)
            role = "assistant" if who.lower() in ("assistant", "ai") else "user"
            subject = "User" if who.lower() in ("user", "human", "assistant", "ai", "system") else who
            for sentence in re.split(r"(?<=[.!?])\s+", body):
                fact = sentence_fact(sentence, subject)
                if fact and fact.lower() not in seen:
                    seen.add(fact.lower())
                    facts.append((fact, role))
                    if len(facts) >= limit:
                        return facts
    return facts


def summary_of(messages: list[dict[str, Any]]) -> str:
    facts = extract_facts(messages, limit=1)
    if facts:
        return facts[0][0]
    for _, text in conversation_lines(messages):
        words = [w for w in text.split() if w.strip()]
        if words:
            return " ".join(words[:20])
    return "nothing notable"


def existing_memory_texts(text: str) -> set[str]:
    section = re.search(r"(?ms)^## (?:Existing|Recently Extracted) Memories\s*\n(.*?)(?=^## |\Z)", text)
    try:
        items = json.loads(section.group(1)) if section else []
    except ValueError:
        items = []
    return {str(i.get("text", "")).lower() for i in items if isinstance(i, dict)}


def parse_literal(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            return None


def update_memory_answer(text: str) -> dict[str, Any]:
    """Mem0's classic update call: keep what exists (NONE), ADD the new facts it does not hold yet."""
    fenced = [parse_literal(block) for block in re.findall(r"(?s)```\s*(.*?)\s*```", text)]
    old = fenced[0] if len(fenced) >= 2 and isinstance(fenced[0], list) else []
    new = fenced[-1] if fenced and isinstance(fenced[-1], list) else []
    memory = [{"id": str(i.get("id")), "text": str(i.get("text", "")), "event": "NONE"} for i in old if isinstance(i, dict)]
    known = {m["text"].lower() for m in memory}
    next_id = len(memory)
    for fact in new:
        if isinstance(fact, str) and fact.strip() and fact.lower() not in known:
            memory.append({"id": str(next_id), "text": fact.strip(), "event": "ADD"})
            known.add(fact.lower())
            next_id += 1
    return {"memory": memory}


def schema_instance(
    schema: Any, *, root: dict[str, Any], name: str, facts: list[str], people: list[str], index: int = 0, depth: int = 0
) -> Any:
    """A small valid instance of a JSON schema (pydantic's dialect), filled from the conversation."""
    if not isinstance(schema, dict) or depth > 8:
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/"):
        target: Any = root
        for part in ref[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return schema_instance(target, root=root, name=name, facts=facts, people=people, index=index, depth=depth + 1)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    if "default" in schema and not facts:
        return schema["default"]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if isinstance(o, dict)]
        if options:
            chosen = next((o for o in options if o.get("type") != "null"), options[0])
            return schema_instance(chosen, root=root, name=name, facts=facts, people=people, index=index, depth=depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "string"
    if kind == "object":
        props = schema.get("properties") or {}
        return {
            key: schema_instance(sub, root=root, name=key, facts=facts, people=people, index=index, depth=depth + 1)
            for key, sub in props.items()
        }
    if kind == "array":
        items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
        wanted = min(len(facts), 3)
        count = max(int(schema.get("minItems", 0)), wanted)
        if "maxItems" in schema:
            count = min(count, int(schema["maxItems"]))
        return [
            schema_instance(items, root=root, name=name, facts=facts, people=people, index=i, depth=depth + 1)
            for i in range(count)
        ]
    if kind in ("number", "integer"):
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if low is not None and high is not None:
            value = (low + high) / 2
        elif low is not None:
            value = low + 1
        elif high is not None:
            value = high - 1
        else:
            value = 0.5 if kind == "number" else 0
        return int(math.floor(value)) if kind == "integer" else float(value)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    # string
    if schema.get("format") == "date-time":
        return datetime.now(UTC).isoformat(timespec="seconds")
    lowered = name.lower()
    if people and any(w in lowered for w in ("user", "author", "handle", "who", "name", "viewer")):
        value = people[index % len(people)]
    elif facts:
        value = facts[index % len(facts)]
    else:
        value = "nothing notable"
    value = value[: int(schema["maxLength"])] if "maxLength" in schema else value
    return value.ljust(int(schema.get("minLength", 0)), ".")


def _response_format_schema(response_format: Any) -> Any:
    """The schema of a structured-outputs request (`json_schema`), if that is how it was asked."""
    if isinstance(response_format, dict) and isinstance(response_format.get("json_schema"), dict):
        return response_format["json_schema"].get("schema")
    return None


def compose_json(messages: list[dict[str, Any]], *, response_format: Any = None) -> dict[str, Any]:
    system = texts_by_role(messages, ("system", "developer"))
    everything = texts_by_role(messages, ("system", "developer", "user"))
    schema = _response_format_schema(response_format) or read_block(system, "json-schema") or read_block(everything, "json-schema")
    properties = schema.get("properties") if isinstance(schema, dict) else None
    if isinstance(properties, dict) and "deltas" in properties and "looking back on chat" in system:
        return {"deltas": reflection_deltas(messages)}  # reflection: only what is worth remembering
    if isinstance(properties, dict) and "text" in properties and (story := narrative_text(messages)) is not None:
        return {"text": story}
    facts = extract_facts(messages)
    if isinstance(schema, dict):
        people = sorted({who for who, _ in conversation_lines(messages) if who.lower() not in ("user", "assistant", "system")})
        texts = [fact for fact, _ in facts] or [summary_of(messages)]
        value = schema_instance(schema, root=schema, name="", facts=texts, people=people)
        return value if isinstance(value, dict) else {"result": value}
    lowered = everything.lower()
    if re.search(r'"event"\s*:', everything) and "retrieved facts" in lowered:
        return update_memory_answer(everything)
    if re.search(r"\b(?:facts?|memor(?:y|ies))\b", lowered) and re.search(r"extract|remember|organi[sz]er|store", lowered):
        known = existing_memory_texts(texts_by_role(messages, ("user",)))
        fresh = [(fact, role) for fact, role in facts if fact.lower() not in known]
        # Both shapes: Mem0 2.x reads "memory", older releases read "facts".
        return {
            "memory": [{"id": str(i), "text": fact, "attributed_to": role} for i, (fact, role) in enumerate(fresh)],
            "facts": [fact for fact, _ in fresh],
        }
    return {"result": summary_of(messages)}
