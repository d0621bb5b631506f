"""Text-level steps of the safety gate: invisible characters, zalgo, one-line whitespace,
truncation and markup detection."""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable

from chat.safety.types import _Findings

ELLIPSIS = "…"

# When truncating, look this far back for a space so we don't cut a word in half.
_WORD_CUT_WINDOW = 20

# Keep at most this many combining marks on one base character: enough for real scripts
# (Thai vowel + tone mark, keycap emoji), far below what zalgo text stacks.
_MAX_COMBINING_MARKS = 2


# --- invisible characters ---------------------------------------------------------------------

# C0/C1 controls except tab and line breaks (handled as whitespace below), lone surrogates
# (they cannot be encoded as UTF-8, so they would break JSON and the database) and
# noncharacters. NEL (\x85) is a line break, not stripped here.
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]")

# Characters that appear in emoji ZWJ sequences (family, pride flag, "heart on fire"...).
_EMOJI = r"\u2190-\u21ff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\u20e3\ufe0f\U0001f000-\U0001faff"
_VARIATION_SELECTORS = r"\ufe00-\ufe0f\U000e0100-\U000e01ef"
# Zero-width, bidi-override and other invisible formatting characters, Hangul fillers (used to
# post "blank" messages) and Unicode tag characters (used to smuggle hidden text into LLMs).
_INVISIBLE = (
    r"\u00ad\u061c\u115f\u1160\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufeff"
    r"\ufff9-\ufffb\uffa0\U0001d173-\U0001d17a\U000e0000-\U000e007f"
)
_INVISIBLE_RE = re.compile(
    # A ZWJ between two emoji is part of the emoji, not an evasion: keep it.
    rf"(?P<joiner>\u200d(?<=[{_EMOJI}]\u200d)(?=[{_EMOJI}]))"
    # Subdivision flags (England, Scotland, Wales) are spelt with tag characters: keep them.
    r"|(?P<flag>\U0001f3f4[\U000e0030-\U000e0039\U000e0061-\U000e007a]{1,6}\U000e007f)"
    # One variation selector picks an emoji style; a run of them hides data ("emoji smuggling").
    rf"|(?P<selector>[{_VARIATION_SELECTORS}])[{_VARIATION_SELECTORS}]+"
    rf"|[{_INVISIBLE}]"
)
_KEPT_INVISIBLE_GROUPS = frozenset({"joiner", "flag"})

# Trailing characters that make no sense once a truncation cut has separated them from what
# they joined.
_DANGLING_AT_CUT = " \u200d" + "".join(chr(cp) for cp in range(0xE0020, 0xE0080))


_MARK_CATEGORIES = frozenset({"Mn", "Me"})  # nonspacing and enclosing marks stack; spacing ones don't


def _combining_mark_ranges(code_points: Iterable[int]) -> str:
    """Regex class body for the combining marks among code_points.

    Python's re has no \\p{M}; scanning the planes where marks live costs ~20 ms once at import
    and keeps the class exactly in step with the interpreter's Unicode database.
    """
    marks = [cp for cp in code_points if unicodedata.category(chr(cp)) in _MARK_CATEGORIES]
    parts: list[str] = []
    for _, run in itertools.groupby(enumerate(marks), key=lambda pair: pair[1] - pair[0]):
        cps = [cp for _, cp in run]
        first, last = cps[0], cps[-1]
        parts.append(re.escape(chr(first)) if first == last else f"{re.escape(chr(first))}-{re.escape(chr(last))}")
    return "".join(parts)


# re turns a class of BMP characters into a bitmap but tests astral ranges one by one, which is
# ~50x slower; so the astral marks are only looked for when the text has some.
_BMP_MARK = f"[{_combining_mark_ranges(range(0x300, 0x10000))}]"
_ANY_MARK = f"(?:{_BMP_MARK}|[{_combining_mark_ranges(itertools.chain(range(0x10000, 0x20000), range(0xE0100, 0xE01F0)))}])"
_ZALGO_BMP_RE = re.compile(rf"(?P<keep>{_BMP_MARK}{{{_MAX_COMBINING_MARKS}}}){_BMP_MARK}+")
_ZALGO_ANY_RE = re.compile(rf"(?P<keep>{_ANY_MARK}{{{_MAX_COMBINING_MARKS}}}){_ANY_MARK}+")
_ASTRAL_RE = re.compile(r"[\U00010000-\U0010ffff]")

_LINE_BREAK_RE = re.compile(r"[\n\r\v\f\x85\u2028\u2029]")


def _keep_allowed_invisible(match: re.Match[str]) -> str:
    if match.lastgroup in _KEPT_INVISIBLE_GROUPS:
        return match.group()
    if match.lastgroup == "selector":
        return match.group("selector")
    return ""


def _clean(text: str, found: _Findings) -> str:
    """Remove what the viewer cannot see (or should not see stacked) and make it one line."""
    cleaned = _CONTROL_RE.sub("", text)
    if len(cleaned) != len(text):
        found.reason("control_chars")

    # Everything below the control characters is non-ASCII, so most messages skip it.
    if not cleaned.isascii():
        visible = _INVISIBLE_RE.sub(_keep_allowed_invisible, cleaned)
        if len(visible) != len(cleaned):
            found.reason("zero_width")
        # NFC first so "cafe" + U+0301 becomes one precomposed character and is not counted
        # as a stacked mark.
        composed = unicodedata.normalize("NFC", visible)
        astral_marks = any(unicodedata.category(c) in _MARK_CATEGORIES for c in _ASTRAL_RE.findall(composed))
        cleaned = (_ZALGO_ANY_RE if astral_marks else _ZALGO_BMP_RE).sub(r"\g<keep>", composed)
        if len(cleaned) != len(composed):
            found.reason("zalgo")

    # strip() first: a trailing newline from the input box is not a multi-line message.
    cleaned = cleaned.strip()
    if _LINE_BREAK_RE.search(cleaned):
        found.reason("multiline")
    # str.split() splits on exactly the characters \s matches, and is several times faster.
    return " ".join(cleaned.split())


# --- length and markup ------------------------------------------------------------------------

_MARKUP_RE = re.compile(r"<(?:/?[A-Za-z][\w:-]*(?=[\s/>])|!--|![A-Za-z])")


def _truncate(text: str, max_length: int) -> str:
    if max_length < 1:
        return ""
    room = max_length - len(ELLIPSIS)
    head = text[:room]
    if text[room : room + 1] != " ":  # the cut is inside a word: back up to a space if one is near
        space = head.rfind(" ", max(0, room - _WORD_CUT_WINDOW))
        if space > 0:
            head = head[:space]
    return head.rstrip(_DANGLING_AT_CUT) + ELLIPSIS
