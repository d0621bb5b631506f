"""PII redaction in plain text: emails, card numbers, IP addresses, phone numbers, street addresses."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable

from chat.safety.types import _Findings

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
