"""Checks on a generated line before it goes to the gateway: one line, short, in character, not a
leak of the prompt, not a repeat."""
from __future__ import annotations

import re

from personas.prompting import MAX_LINE_CHARS

LEAK_MARKERS = ("<<persona-card>>", "<</persona-card>>", "<<stream>>", "<<chat>>", "<<reply-to>>", "rules:")
_NAME_PREFIX = re.compile(r"^\s*@?([A-Za-z0-9_-]{2,32})\s*:\s+")
_SHINGLE = 7  # any 7-word run shared with the system prompt counts as a leak


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _shares_run(line: str, prompt: str) -> bool:
    words = _words(line)
    if len(words) < _SHINGLE:
        return False
    prompt_text = " ".join(_words(prompt))
    return any(" ".join(words[i : i + _SHINGLE]) in prompt_text for i in range(len(words) - _SHINGLE + 1))


def line_check(*, raw: str, handle: str, system_prompt: str, recent_own: list[str]) -> tuple[str | None, str]:
    """The cleaned line, or None with the reason it must not be sent."""
    line = (raw or "").strip().splitlines()[0].strip() if (raw or "").strip() else ""
    prefix = _NAME_PREFIX.match(line)
    if prefix and prefix.group(1).lower() == handle.lower():
        line = line[prefix.end() :]
    line = line.strip().strip('"“”').strip()
    if not line:
        return None, "empty"
    lowered = line.lower()
    if any(marker in lowered for marker in LEAK_MARKERS) or _shares_run(line, system_prompt):
        return None, "prompt_leak"
    if len(line) > MAX_LINE_CHARS:
        cut = line[:MAX_LINE_CHARS].rsplit(" ", 1)[0]
        line = cut if len(cut) > MAX_LINE_CHARS // 2 else line[:MAX_LINE_CHARS]
    if lowered in {previous.lower() for previous in recent_own}:
        return None, "repeat"
    return line, "ok"
