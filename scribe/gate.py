"""The moderators' rules applied to what the scribe's LLM wrote, before a version is stored.

A scribe document is public and lasts, so it goes through the chat gateway's own safety gate
(chat.safety) with the moderators' blocklist and the link allow-list, line by line (the gate is
made for one line; a document keeps its line structure): a line that hits a "drop" rule is left
out, PII is redacted (a phone number a "factual" scribe joined from two messages included), mask
rules mask, links off the allow-list are removed. A line the gate leaves unchanged (apart from
whitespace) is kept exactly as written, so Markdown indentation survives.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings

from chat.safety import BlockRule, safety_check

# Reasons that change only whitespace or invisible characters, not what a reader sees.
_COSMETIC = frozenset({"multiline"})


@dataclass(frozen=True)
class GateResult:
    content: str
    reasons: tuple[str, ...]  # what the gate did, e.g. ("blocked:drop", "pii:phone"); empty when nothing

    @property
    def changed(self) -> bool:
        return bool(self.reasons)


def document_gate(*, content: str, rules: Sequence[BlockRule]) -> GateResult:
    lines_out: list[str] = []
    reasons: list[str] = []
    for index, line in enumerate(content.split("\n")):
        if not line.strip() or (index == 0 and line.startswith("# ")):
            lines_out.append(line)  # blank, or the title heading the moderator chose
            continue
        verdict = safety_check(
            line,
            origin="bot",
            rules=rules,
            allowed_domains=settings.CHAT_ALLOWED_LINK_DOMAINS,
            max_length=len(line) + 64,
        )
        if verdict.action == "drop":
            reasons.extend(reason for reason in verdict.reasons if reason != "empty")
            continue
        if verdict.text == " ".join(line.split()):
            lines_out.append(line)
            continue
        indent = line[: len(line) - len(line.lstrip())]
        lines_out.append(indent + verdict.text)
        reasons.extend(reason for reason in verdict.reasons if reason not in _COSMETIC)
    return GateResult(content="\n".join(lines_out), reasons=tuple(dict.fromkeys(reasons)))
