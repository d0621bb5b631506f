"""Moderator blocklist rules: compiled once per rule set, matched through l33t and fullwidth forms."""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import regex

from chat.safety.types import BlockRule, _Findings

logger = logging.getLogger(__name__)


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


# A moderator's regex rule gets this long per message (the `regex` module's timeout): a pattern
# like (a|aa)+$ backtracks exponentially and would otherwise stall the gateway on one message.
REGEX_RULE_TIMEOUT_SECONDS = 0.02
# Nested quantifiers, the usual cause: a group holding a quantifier, itself quantified.
_NESTED_QUANTIFIER = re.compile(r"\((?:[^()\\]|\\.)*?(?:[+*]|\{\d*,\d*\})(?:[^()\\]|\\.)*\)\s*(?:[+*]|\{\d*,?\d*\})")


class RuleTimeout(Exception):
    """A regex rule ran out of time on a message."""


class _TimedRegex:
    """A moderator's regex rule, matched with a time limit."""

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.compiled = regex.compile(pattern, regex.IGNORECASE | regex.VERSION0)

    def finditer(self, text: str) -> list:
        try:
            return list(self.compiled.finditer(text, timeout=REGEX_RULE_TIMEOUT_SECONDS))
        except TimeoutError:
            logger.warning("blocklist regex %r timed out on a %d-character message", self.pattern, len(text))
            raise RuleTimeout(self.pattern) from None


def regex_rule_problem(pattern: str) -> str | None:
    """Why a moderator's regex rule cannot be saved, or None: it must compile and must not nest
    quantifiers (catastrophic backtracking)."""
    try:
        regex.compile(pattern, regex.VERSION0)
    except Exception as exc:  # regex.error, RecursionError...
        return f"not a valid regular expression: {exc}"
    if _NESTED_QUANTIFIER.search(pattern):
        return "nested quantifiers such as (a+)+ can take exponential time on some messages; rewrite without them"
    return None


@dataclass(frozen=True)
class _CompiledRules:
    drop: tuple[re.Pattern[str] | _TimedRegex, ...]
    mask: tuple[re.Pattern[str] | _TimedRegex, ...]


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
    compiled: dict[str, list[re.Pattern[str] | _TimedRegex]] = {"drop": [], "mask": []}
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
                compiled[rule.action].append(_TimedRegex(rule.term))
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


def _nonempty_matches(pattern: re.Pattern[str] | _TimedRegex, text: str) -> list[tuple[int, int]]:
    # A regex rule that matches the empty string must not drop or mask every message.
    try:
        return [m.span() for m in pattern.finditer(text) if m.end() > m.start()]
    except RuleTimeout:
        return []  # a mask rule that ran out of time masks nothing


def _hits_drop_rule(text: str, compiled: _CompiledRules) -> bool:
    folded = _fold_for_matching(text)
    for pattern in compiled.drop:
        try:
            if any(m.end() > m.start() for m in pattern.finditer(folded)):
                return True
        except RuleTimeout:
            return True  # fail closed: a message that stalls a drop rule is not let through
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
