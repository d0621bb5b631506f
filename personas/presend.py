"""Checks on a generated line before it goes to the gateway: one line, short, in character, not a
leak of the prompt, not an instruction to the rest of the cast, not a repeat.

The leak check assumes the model obeyed whatever chat asked: a line is refused when it carries a
run of the system prompt, plainly or dressed up the ways chat asks for (base64, rot13, reversed,
l33t, homoglyphs, zero-width padding, s p a c e d letters). What a persona is meant to say (its
catchphrases, emotes and topics) is not a secret and does not count; its memories and narrative
are not in the system prompt at all (they come with the chat, as data).
"""
from __future__ import annotations

import codecs
import json
import re

from chatter_site.lib.injection import decode_base64_text, looks_like_instruction, normalise_for_matching
from personas.prompting import MAX_LINE_CHARS

LEAK_MARKERS = ("<<persona-card>>", "<</persona-card>>", "<<stream>>", "<<chat>>", "<<reply-to>>", "rules:")
_NAME_PREFIX = re.compile(r"^\s*@?([A-Za-z0-9_-]{2,32})\s*:\s+")
_SHINGLE = 7  # any 7-word run shared with the system prompt counts as a leak
_LEAK_LETTERS = 30  # ... and so does any run of 30 letters of its secret part, however spaced or encoded
_CARD_RE = re.compile(r"(?ms)^<<persona-card>>\s*$\n(.*?)\n^<</persona-card>>\s*$")
_LEET_LETTERS = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})
_BASE64_RE = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_RE = re.compile(r"\b(?:[0-9a-fA-F]{2}[ :]?){12,}")
# Small real models copy the prompt's block format: a "<<next_chat>>" tag line before the line, the
# line as a JSON string, or the whole line wrapped as "<<...>>". Those wrappings are dropped.
_ECHO_SHINGLE = 6  # a 6-word run of the user prompt's own wording (not its data blocks) is an echo
_BLOCK_RE = re.compile(r"(?ms)^<<([\w-]+)>>\s*$.*?^<</\1>>\s*$")
_TAG_LINE = re.compile(r"^<</?[\w -]{1,40}>>$")
_WRAPPED = re.compile(r"^<<\s*(.+?)\s*>>$")


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def _shares_run(line: str, prompt: str) -> bool:
    words = _words(line)
    if len(words) < _SHINGLE:
        return False
    prompt_text = " ".join(_words(prompt))
    return any(" ".join(words[i : i + _SHINGLE]) in prompt_text for i in range(len(words) - _SHINGLE + 1))


def _letters(text: str, *, leet: bool = False) -> str:
    folded = normalise_for_matching(text)
    if leet:
        folded = folded.translate(_LEET_LETTERS)
    return re.sub(r"[^a-z]", "", folded)


def _secret_part(system_prompt: str) -> str:
    """The system prompt without what the persona may say (see personas.prompting: memories and
    narrative are not in it)."""
    secret = system_prompt
    card = _CARD_RE.search(secret)
    if card:
        try:
            data = json.loads(card.group(1))
        except ValueError:
            data = {}
        spoken = [
            value
            for key in ("catchphrases", "emotes", "loved_topics", "hated_topics")
            for value in (data.get(key) or [])
            if isinstance(value, str)
        ]
        for phrase in sorted(spoken, key=len, reverse=True):
            if phrase.strip():
                secret = secret.replace(phrase, " ")
    return secret


def _decoded_forms(line: str) -> list[str]:
    forms = [line, line[::-1], codecs.encode(line, "rot13")]
    for token in _BASE64_RE.findall(line):
        decoded = decode_base64_text(token)
        if decoded:
            forms.append(decoded)
    for token in _HEX_RE.findall(line):
        try:
            forms.append(bytes.fromhex(re.sub(r"[ :]", "", token)).decode("utf-8", "ignore"))
        except ValueError:
            pass
    return forms


def _leaks(line: str, system_prompt: str) -> bool:
    lowered = line.lower()
    if any(marker in lowered for marker in LEAK_MARKERS) or _shares_run(line, system_prompt):
        return True
    secret = _letters(_secret_part(system_prompt))
    if len(secret) < _LEAK_LETTERS:
        return False
    windows = {secret[i : i + _LEAK_LETTERS] for i in range(len(secret) - _LEAK_LETTERS + 1)}
    for form in _decoded_forms(line):
        for letters in {_letters(form), _letters(form, leet=True)}:
            if any(letters[i : i + _LEAK_LETTERS] in windows for i in range(len(letters) - _LEAK_LETTERS + 1)):
                return True
    return False


def _first_line(raw: str) -> str:
    """The first line the model meant as its chat line, out of the prompt-format wrapping it copied."""
    for candidate in raw.strip().splitlines():
        line = candidate.strip()
        if not line or _TAG_LINE.match(line):
            continue
        if len(line) > 1 and line[0] == line[-1] == '"':
            try:
                decoded = json.loads(line)
            except ValueError:
                decoded = None
            line = decoded.strip() if isinstance(decoded, str) else line
        wrapped = _WRAPPED.match(line)
        return wrapped.group(1) if wrapped else line
    return ""


def _echoes_scaffolding(line: str, user_prompt: str) -> bool:
    """The line repeats the user prompt's own wording ("The moment on stream you are reacting to (data,
    JSON)"), which small models do; quoting chat (inside the data blocks) is not counted."""
    scaffolding = _BLOCK_RE.sub(" ", user_prompt)
    words = _words(line)
    text = " ".join(_words(scaffolding))
    return "data, json" in line.lower() or any(
        " ".join(words[i : i + _ECHO_SHINGLE]) in text for i in range(len(words) - _ECHO_SHINGLE + 1)
    )


def line_check(
    *, raw: str, handle: str, system_prompt: str, recent_own: list[str], user_prompt: str = ""
) -> tuple[str | None, str]:
    """The cleaned line, or None with the reason it must not be sent."""
    line = _first_line(raw or "")
    prefix = _NAME_PREFIX.match(line)
    if prefix and prefix.group(1).lower() == handle.lower():
        line = line[prefix.end() :]
    line = line.strip().strip('"“”').strip()
    if not line:
        return None, "empty"
    # The whole answer, not just the line sent: a leak split over several lines is still a leak.
    if _leaks(line, system_prompt) or _leaks(" ".join((raw or "").split()), system_prompt):
        return None, "prompt_leak"
    if user_prompt and _echoes_scaffolding(line, user_prompt):
        return None, "prompt_echo"
    if looks_like_instruction(line):
        # The rest of the cast reads this line: an obeyed injection must not pass itself on.
        return None, "instruction"
    if len(line) > MAX_LINE_CHARS:
        cut = line[:MAX_LINE_CHARS].rsplit(" ", 1)[0]
        line = cut if len(cut) > MAX_LINE_CHARS // 2 else line[:MAX_LINE_CHARS]
    if line.lower() in {previous.lower() for previous in recent_own}:
        return None, "repeat"
    return line, "ok"
