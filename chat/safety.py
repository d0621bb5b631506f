"""The chat gateway's final safety gate.

Every message (human, bot or system) passes through `safety_check` just before it is persisted
and broadcast. It is pure Python on purpose, with no Django and no database, so the gateway can
call it in the hot path and tests and fuzzers can hammer it directly.

Pipeline, in order (each step sees the output of the previous one):
1. strip control, zero-width/bidi and zalgo characters; fold newlines; collapse whitespace;
2. blocklist "drop" rules (early exit: nothing else matters for a dropped message);
3. split out links, normalise them and apply the allow-list; redact PII in the rest;
4. blocklist "mask" rules;
5. truncate to `max_length`; flag markup.

Reasons say why the text was changed or dropped; flags are tags stored on the message.
Reasons: control_chars, zero_width, zalgo, multiline, blocked:drop, blocked:mask, pii:email,
pii:card, pii:ip, pii:phone, pii:address, link:scheme, link:unlisted, too_long, empty,
internal_error. Flags: pii_redacted, link, link_risky, masked, markup.
"""

from __future__ import annotations

import functools
import ipaddress
import itertools
import logging
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 500
ELLIPSIS = "…"
LINK_REMOVED = "[link removed]"

# Origins that may post links off the allow-list (flagged for moderators). Anything else,
# including an unknown origin, gets the strict bot treatment: failing closed is the safe default.
_LENIENT_ORIGINS = frozenset({"human", "system"})

# When truncating, look this far back for a space so we don't cut a word in half.
_WORD_CUT_WINDOW = 20

# Keep at most this many combining marks on one base character: enough for real scripts
# (Thai vowel + tone mark, keycap emoji), far below what zalgo text stacks.
_MAX_COMBINING_MARKS = 2


@dataclass(frozen=True)
class BlockRule:
    term: str
    match: str  # "word", "substring" or "regex"
    action: str  # "drop" or "mask"


@dataclass(frozen=True)
class SafetyResult:
    text: str  # sanitised text ('' when dropped)
    action: str  # "allow" | "sanitise" | "drop"
    reasons: tuple[str, ...]
    flags: tuple[str, ...]


class _Findings:
    """Ordered, de-duplicated reasons and flags collected while a message is processed."""

    def __init__(self) -> None:
        self.reasons: dict[str, None] = {}
        self.flags: dict[str, None] = {}

    def reason(self, name: str) -> None:
        self.reasons[name] = None

    def flag(self, *names: str) -> None:
        for name in names:
            self.flags[name] = None

    def pii(self, kind: str) -> None:
        self.reason(f"pii:{kind}")
        self.flag("pii_redacted")


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


# --- blocklist --------------------------------------------------------------------------------

# Common leetspeak: each letter also matches the characters that stand in for it, and a digit or
# symbol in a term also matches the letters it stands for (so "n00b" catches "noob").
_LEET_FOR_LETTER = {"a": "4@", "e": "3", "i": "1", "l": "1", "o": "0", "s": "5$", "t": "7"}
_LETTERS_FOR_LEET = {
    stand_in: "".join(letter for letter, stand_ins in _LEET_FOR_LETTER.items() if stand_in in stand_ins)
    for stand_in in set("".join(_LEET_FOR_LETTER.values()))
}

# Spelling a word out with separators ("b.a.d", "b a d") only counts when every letter is
# separated, so "an al dente" does not match "anal".
_SPELLING_SEPARATOR = r"[ .\-_*~]"


@dataclass(frozen=True)
class _CompiledRules:
    drop: tuple[re.Pattern[str], ...]
    mask: tuple[re.Pattern[str], ...]


def _leet_class(char: str) -> str:
    lowered = char.lower()
    variants = lowered + _LEET_FOR_LETTER.get(lowered, "") + _LETTERS_FOR_LEET.get(lowered, "")
    if len(variants) == 1:
        return re.escape(char)
    return "[" + "".join(re.escape(v) for v in dict.fromkeys(variants)) + "]"


def _word_pattern(term: str) -> str:
    """Pattern for a whole-word term; the caller wraps it in the word-boundary checks."""
    words = term.split()
    tight = r"\s+".join("".join(_leet_class(c) for c in word) for word in words)
    spaced = r"\s+".join(_SPELLING_SEPARATOR.join(_leet_class(c) for c in word) for word in words)
    return tight if tight == spaced else f"{tight}|{spaced}"


def _usable(rule: BlockRule) -> bool:
    # Junk from a bad admin row is skipped, and an empty term would match every message.
    fields = (rule.term, rule.match, rule.action) if isinstance(rule, BlockRule) else ()
    return bool(fields) and all(isinstance(f, str) for f in fields) and bool(rule.term.strip())


def _combine(patterns: list[str], *, whole_words: bool) -> re.Pattern[str]:
    body = "|".join(f"(?:{p})" for p in patterns)
    if whole_words:
        # Not \b: leet stand-ins like "$" and "@" are not word characters, so \b would miss
        # "$hit". One shared check (not one per term) lets most positions fail at once.
        body = rf"(?<!\w)(?:{body})(?!\w)"
    return re.compile(body, re.IGNORECASE)


@functools.lru_cache(maxsize=128)
def _compile_rules(rules: tuple[BlockRule, ...]) -> _CompiledRules:
    """Compile moderator rules once per distinct rule set.

    Word and substring rules for one action become a single alternation (one scan of the text
    instead of one per rule); regex rules are compiled on their own so one bad pattern only
    loses itself.
    """
    compiled: dict[str, list[re.Pattern[str]]] = {"drop": [], "mask": []}
    words: dict[str, list[str]] = {"drop": [], "mask": []}
    substrings: dict[str, list[str]] = {"drop": [], "mask": []}
    for rule in rules:
        if not _usable(rule) or rule.action not in compiled:
            continue
        if rule.match == "word":
            words[rule.action].append(_word_pattern(rule.term.strip()))
        elif rule.match == "substring":
            substrings[rule.action].append(re.escape(rule.term))
        elif rule.match == "regex":
            try:
                compiled[rule.action].append(re.compile(rule.term, re.IGNORECASE))
            except Exception:  # re.error, RecursionError...: a bad rule must not break the gate
                logger.warning("ignoring invalid blocklist regex %r", rule.term)
    for action in compiled:
        if substrings[action]:
            compiled[action].insert(0, _combine(substrings[action], whole_words=False))
        if words[action]:
            compiled[action].insert(0, _combine(words[action], whole_words=True))
    return _CompiledRules(drop=tuple(compiled["drop"]), mask=tuple(compiled["mask"]))


def _rules_for(rules: Sequence[BlockRule]) -> _CompiledRules:
    try:
        return _compile_rules(tuple(rules))
    except TypeError:  # unhashable junk in the list: compile without the cache
        return _compile_rules.__wrapped__(tuple(rules))


@functools.lru_cache(maxsize=4096)
def _fold_char(char: str) -> str:
    folded = unicodedata.normalize("NFKC", char)
    return folded if len(folded) == 1 else char


def _fold_for_matching(text: str) -> str:
    """A same-length copy of text with compatibility forms folded ("ｂａｄ" -> "bad").

    Same length so match positions in the copy can be masked in the original.
    """
    if text.isascii() or unicodedata.is_normalized("NFKC", text):
        return text
    return "".join(_fold_char(c) for c in text)


def _nonempty_matches(pattern: re.Pattern[str], text: str) -> list[tuple[int, int]]:
    # A regex rule that matches the empty string must not drop or mask every message.
    return [m.span() for m in pattern.finditer(text) if m.end() > m.start()]


def _hits_drop_rule(text: str, compiled: _CompiledRules) -> bool:
    folded = _fold_for_matching(text)
    for pattern in compiled.drop:
        if any(m.end() > m.start() for m in pattern.finditer(folded)):
            return True
    return False


def _apply_mask_rules(text: str, compiled: _CompiledRules, found: _Findings) -> str:
    if not compiled.mask:
        return text
    folded = _fold_for_matching(text)
    spans = [span for pattern in compiled.mask for span in _nonempty_matches(pattern, folded)]
    if not spans:
        return text
    chars = list(text)
    for start, end in spans:
        chars[start:end] = "*" * (end - start)
    found.reason("blocked:mask")
    found.flag("masked")
    return "".join(chars)


# --- PII --------------------------------------------------------------------------------------

_EMAIL_RE = re.compile(r"(?<![\w.+%-])[\w.+%-]++@[\w-]++(?:\.[\w-]++)+")
# A run of digit groups separated by single spaces or dashes; Luhn decides what is a card.
# The lookahead skips runs too short to be a card before the (slower) Python check runs.
_CARD_RUN_RE = re.compile(r"(?<![\w+-])(?=(?:\d[ -]?){13})\d++(?:[ -]\d++)*+(?!\w)")
_CARD_SPLIT_RE = re.compile(r"([ -])")
_IPV4_RE = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\w|\.\d)")
_IPV6_RE = re.compile(
    r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9A-Fa-f]{1,4})?(?![\w:]|\.\d)"
)
_PHONE_RE = re.compile(
    r"(?<![\w+])"
    r"(?=(?:[+( ).-]{0,2}\d){9})"  # at least 9 digits ahead, or don't bother
    r"(?:\+\d{1,3}[ .-]?)?"  # country code
    r"(?:\(\d{1,5}\)[ .-]?)?"  # area code in parentheses
    r"\d++(?:[ .-]\d++)*+"  # possessive: digit runs must never backtrack
    r"(?!\w)"
)
_DIGIT_RUN_RE = re.compile(r"\d+")
_STREET_SUFFIX = r"street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl"
_ADDRESS_RE = re.compile(
    r"(?<!\w)\d{1,6}[A-Za-z]?"  # house number, "221B"
    r"(?: (?:[A-Z][\w'-]*+|\d+(?:st|nd|rd|th)\b)){1,4}"  # capitalised street name, "5th"
    rf" (?i:{_STREET_SUFFIX})(?!\w)"
)
_MIN_PHONE_DIGITS, _MAX_PHONE_DIGITS = 9, 15
_MIN_CARD_DIGITS, _MAX_CARD_DIGITS = 13, 19


def _longest_card_end(groups: list[str], start: int) -> int | None:
    """End index of the longest run of groups from start that spells a Luhn-valid card.

    Luhn doubles every second digit counted from the right, so which digits are doubled depends
    on the final length. Keeping both possible totals while extending the window makes each
    step O(1) instead of re-checking every window from scratch.
    """
    best: int | None = None
    totals = [0, 0]  # totals[p]: the Luhn sum if digits at even index are doubled when p == 0
    length = 0
    for end in range(start + 1, len(groups) + 1):
        for char in groups[end - 1]:
            digit = int(char)
            doubled = digit * 2 - 9 if digit > 4 else digit * 2
            totals[length % 2] += doubled
            totals[1 - length % 2] += digit
            length += 1
            if length > _MAX_CARD_DIGITS:
                return best
        if length >= _MIN_CARD_DIGITS and totals[length % 2] % 10 == 0:
            best = end
    return best


def _redact_cards_in_run(run: str) -> str | None:
    """Replace card numbers in a run of digit groups; None when there are none.

    Windows of whole groups are tried, not just the whole run, so "4111 1111 1111 1111 2026"
    (card, then a year) still loses the card.
    """
    parts = _CARD_SPLIT_RE.split(run)
    groups, separators = parts[0::2], parts[1::2]
    out: list[str] = []
    found_card = False
    start = 0
    while start < len(groups):
        end = _longest_card_end(groups, start)
        if end is None:
            end = start + 1
            out.append(groups[start])
        else:
            out.append("[card]")
            found_card = True
        if end < len(groups):
            out.append(separators[end - 1])
        start = end
    return "".join(out) if found_card else None


def _valid_ipv4(candidate: str) -> bool:
    return all(int(octet) <= 255 for octet in candidate.split("."))


def _valid_ipv6(candidate: str) -> bool:
    # "::1" or "Bad::Cafe" are valid addresses but not worth hiding (and the second is a word);
    # a leaked address has several groups and some digits.
    if sum(1 for group in candidate.split(":") if group) < 3 and "." not in candidate:
        return False
    if not any(c.isdigit() for c in candidate):
        return False
    try:
        ipaddress.IPv6Address(candidate)
    except ValueError:
        return False
    return True


def _looks_like_phone(candidate: str) -> bool:
    digits = sum(c.isdigit() for c in candidate)
    if not _MIN_PHONE_DIGITS <= digits <= _MAX_PHONE_DIGITS:
        return False
    if candidate.startswith("+") or "(" in candidate:
        return True
    groups = _DIGIT_RUN_RE.findall(candidate)
    if len(groups) == 2 and "." in candidate:
        return False  # a decimal such as 3.14159265358
    # Phone groups are 2+ digits after an optional leading trunk/country digit; "1 2 3 4 5 6 7 8
    # 9" is a countdown, not a number.
    return len(groups) <= 6 and all(len(group) >= 2 for group in groups[1:])


def _replace_where(
    pattern: re.Pattern[str], text: str, replace: Callable[[str], str | None]
) -> tuple[str, bool]:
    """Substitute matches for which replace returns a string; report whether any did."""
    replaced = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal replaced
        new = replace(match.group())
        if new is None:
            return match.group()
        replaced = True
        return new

    return pattern.sub(substitute, text), replaced


def _token_if(valid: Callable[[str], bool], token: str) -> Callable[[str], str | None]:
    return lambda candidate: token if valid(candidate) else None


def _redact_emails(text: str, found: _Findings) -> str:
    if "@" not in text:
        return text
    text, hit = _replace_where(_EMAIL_RE, text, lambda _: "[email]")
    if hit:
        found.pii("email")
    return text


_NON_DIGIT_RE = re.compile(r"\D+")


def _redact_pii(text: str, found: _Findings) -> str:
    """Redact PII in plain text (never inside links, where digit runs are ids, not phones)."""
    text = _redact_emails(text, found)
    digit_count = len(_NON_DIGIT_RE.sub("", text))
    if not digit_count:
        return text  # every remaining kind needs a digit; most chat lines have none
    # Order matters: a card number is also a long digit run a phone rule would take, and an
    # IPv4 address is a dotted digit run the phone rule would take. Each step first checks
    # whether the text could hold its kind at all, which keeps ordinary lines fast.
    steps: list[tuple[bool, str, re.Pattern[str], Callable[[str], str | None]]] = [
        (digit_count >= _MIN_CARD_DIGITS, "card", _CARD_RUN_RE, _redact_cards_in_run),
        (text.count(":") >= 2, "ip", _IPV6_RE, _token_if(_valid_ipv6, "[ip]")),
        (text.count(".") >= 3, "ip", _IPV4_RE, _token_if(_valid_ipv4, "[ip]")),
        (digit_count >= _MIN_PHONE_DIGITS, "phone", _PHONE_RE, _token_if(_looks_like_phone, "[phone]")),
        (True, "address", _ADDRESS_RE, lambda _: "[address]"),
    ]
    for could_match, kind, pattern, replace in steps:
        if not could_match:
            continue
        text, hit = _replace_where(pattern, text, replace)
        if hit:
            found.pii(kind)
    return text


# --- links ------------------------------------------------------------------------------------

# Bare domains count as links only for common TLDs that are not also English words ("ok.so",
# "no.it" are sentences with a missing space, not links).
_BARE_TLDS = (
    "com|net|org|io|tv|gg|co|uk|de|fr|ru|cn|jp|br|nl|pl|ca|au|eu|ly|app|dev|xyz|info|biz|live"
    "|stream|shop|store|online|site|link|club|top|ai|fm|cc|ws|gl"
)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_LINK_RE = re.compile(
    # Pseudo-URLs that run code or smuggle content; require content so "data: 5 GB" is prose.
    r"(?P<pseudo>(?<![\w.+-])(?:(?:javascript|vbscript):\S+|data:(?:[\w.+-]+/[\w.+-]+)?(?:;[\w=.+-]+)*,\S*))"
    r"|(?P<url>\bhttps?://[^\s<>\"'`]+)"
    r"|(?P<bare>(?<![\w@.\-/:])"  # not part of an email, path or another URL
    rf"(?:www\.(?:{_LABEL}\.)+[a-z]{{2,24}}|(?:{_LABEL}\.)+(?:{_BARE_TLDS}))"
    r"(?![\w@-]|\.[\w-])"  # "example.com.evil.ru" is not "example.com"
    r"(?:[/?#][^\s<>\"'`]*)?)",
    re.IGNORECASE,
)
_LINK_PARTS_RE = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*://)?"
    # Browsers end the authority at "\" too: "http://evil.com\@allowed.com" goes to evil.com.
    r"(?:(?P<userinfo>[^/?#\\]*)@)?"
    r"(?P<host>\[[^\]/?#\\]*\]|[^/?#\\:]*)"
    r"(?::(?P<port>[^/?#\\]*))?"
    r"(?P<rest>.*)",
    re.IGNORECASE | re.DOTALL,
)
_TRACKING_PARAMS = frozenset({"fbclid", "gclid", "dclid", "msclkid", "mc_eid", "igshid", "yclid", "twclid"})
_TRAILING_PUNCTUATION = ".,;:!?'\")]}*"
_CLOSERS = {")": "(", "]": "[", "}": "{"}
# A bare domain has a dot between word characters. Starting with a literal lets re jump
# straight to the dots instead of testing every position.
_DOT_BETWEEN_WORDS_RE = re.compile(r"\.(?<=\w\.)\w")
_IPV4_HOST_RE = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def _trim_link(url: str) -> str:
    """Leave sentence punctuation after a link outside it, but keep balanced ")" (Wikipedia)."""
    while url and url[-1] in _TRAILING_PUNCTUATION:
        opener = _CLOSERS.get(url[-1])
        if opener and url.count(opener) >= url.count(url[-1]):
            break
        url = url[:-1]
    return url


def _is_tracking_param(param: str) -> bool:
    key = param.split("=", 1)[0].lower()
    return key.startswith("utm_") or key in _TRACKING_PARAMS


def _strip_tracking(rest: str) -> str:
    before_fragment, hash_mark, fragment = rest.partition("#")
    path, question_mark, query = before_fragment.partition("?")
    if question_mark:
        kept = [param for param in query.split("&") if not _is_tracking_param(param)]
        query = "&".join(kept)
        question_mark = "?" if kept else ""
    return f"{path}{question_mark}{query}{hash_mark}{fragment}"


@functools.lru_cache(maxsize=64)
def _normalise_domains(domains: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = (d.strip().lower().lstrip("*.").rstrip(".") for d in domains if isinstance(d, str))
    return tuple(d for d in cleaned if d)


def _allowed_domains(domains: Sequence[str]) -> tuple[str, ...]:
    try:
        return _normalise_domains(tuple(domains))
    except TypeError:
        return _normalise_domains.__wrapped__(tuple(domains))


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    return any(host == domain or host.endswith("." + domain) for domain in allowed)


def _is_ip_literal(host: str) -> bool:
    return host.startswith("[") or (_IPV4_HOST_RE.fullmatch(host) is not None and _valid_ipv4(host))


def _handle_link(raw: str, kind: str, *, strict: bool, allowed: tuple[str, ...], found: _Findings) -> str:
    """Return what replaces one detected link in the message."""
    if kind == "pseudo":
        found.reason("link:scheme")
        return LINK_REMOVED
    parts = _LINK_PARTS_RE.fullmatch(raw)
    host = (parts.group("host") or "").lower().rstrip(".") if parts else ""
    if parts is None or not host:
        return raw  # "http://" on its own is not a link to anywhere
    scheme = (parts.group("scheme") or "").lower()
    port = f":{parts.group('port')}" if parts.group("port") else ""
    is_allowed = _host_allowed(host, allowed)
    if not is_allowed and _is_ip_literal(host):
        found.pii("ip")
        host = "[ip]"
    # Userinfo is dropped: "https://allowed.com@evil.com" tricks readers, and passwords leak.
    normalised = _redact_emails(f"{scheme}{host}{port}{_strip_tracking(parts.group('rest'))}", found)
    if is_allowed:
        found.flag("link")
        return normalised
    found.reason("link:unlisted")
    if strict:
        return LINK_REMOVED
    # Humans may share links; moderators see them flagged, and the page renders them inert.
    found.flag("link", "link_risky")
    return normalised


def _might_hold_link(text: str) -> bool:
    if "://" in text or _DOT_BETWEEN_WORDS_RE.search(text):
        return True
    lowered = text.lower() if ":" in text else ""
    return "script:" in lowered or "data:" in lowered


def _process_links_and_pii(text: str, *, strict: bool, allowed: tuple[str, ...], found: _Findings) -> str:
    if not _might_hold_link(text):
        return _redact_pii(text, found)  # the full link scan is the slowest step; skip it
    out: list[str] = []
    position = 0
    for match in _LINK_RE.finditer(text):
        if match.start() < position:
            continue  # inside the tail we gave back to the text after trimming the previous link
        kind = match.lastgroup or "url"
        raw = _trim_link(match.group()) if kind != "pseudo" else match.group()
        if not raw:
            continue
        out.append(_redact_pii(text[position : match.start()], found))
        out.append(_handle_link(raw, kind, strict=strict, allowed=allowed, found=found))
        position = match.start() + len(raw)
    out.append(_redact_pii(text[position:], found))
    return "".join(out)


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


# --- entry point ------------------------------------------------------------------------------


def _dropped(reason: str, found: _Findings) -> SafetyResult:
    found.reason(reason)
    return SafetyResult(text="", action="drop", reasons=tuple(found.reasons), flags=())


def _check(
    text: str, *, origin: str, rules: Sequence[BlockRule], allowed_domains: Sequence[str], max_length: int
) -> SafetyResult:
    found = _Findings()
    # Cheap insurance against huge frames: keep twice what we could return (room for what
    # redaction and zalgo removal take out), then discard the last, possibly cut, token so half
    # an email or card cannot slip through.
    hard_cap = max(max_length, 0) * 2 + 256
    pre_cut = len(text) > hard_cap
    cleaned = _clean(text[:hard_cap] if pre_cut else text, found)
    if pre_cut:
        found.reason("too_long")
        cleaned = cleaned.rsplit(" ", 1)[0] if " " in cleaned else cleaned
    if not cleaned:
        return _dropped("empty", found)

    compiled = _rules_for(rules)
    if compiled.drop and _hits_drop_rule(cleaned, compiled):
        return _dropped("blocked:drop", found)

    strict = origin not in _LENIENT_ORIGINS
    sanitised = _process_links_and_pii(
        cleaned, strict=strict, allowed=_allowed_domains(allowed_domains), found=found
    )
    sanitised = _apply_mask_rules(sanitised, compiled, found)

    if len(sanitised) > max_length:
        sanitised = _truncate(sanitised, max_length)
        found.reason("too_long")
    if not sanitised:
        return _dropped("empty", found)

    if "<" in sanitised and _MARKUP_RE.search(sanitised):
        # Not escaped here (the page escapes on render); flagged so moderators can look.
        found.flag("markup")

    action = "sanitise" if sanitised != text or found.reasons else "allow"
    return SafetyResult(text=sanitised, action=action, reasons=tuple(found.reasons), flags=tuple(found.flags))


def safety_check(
    text: str,
    *,
    origin: str,
    rules: Sequence[BlockRule] = (),
    allowed_domains: Sequence[str] = (),
    max_length: int = DEFAULT_MAX_LENGTH,
) -> SafetyResult:
    """Sanitise or drop one chat message; never raises."""
    try:
        return _check(text, origin=origin, rules=rules, allowed_domains=allowed_domains, max_length=max_length)
    except Exception:
        # A gate that raises leaves the caller holding an unchecked message; dropping keeps
        # unchecked text out of the room, and the log tells us to fix the bug.
        logger.exception("safety_check failed; dropping the message")
        return SafetyResult(text="", action="drop", reasons=("internal_error",), flags=())
