"""The chat gateway's final safety gate.

How it works: docs/architecture.md, "Inside the parts" › chat/safety."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from chat.safety.blocklist import _apply_mask_rules, _hits_drop_rule, _rules_for
from chat.safety.links import LINK_REMOVED, _allowed_domains, _process_links_and_pii
from chat.safety.text import _MARKUP_RE, ELLIPSIS, _clean, _truncate
from chat.safety.types import BlockRule, SafetyResult, _Findings

__all__ = [
    "DEFAULT_MAX_LENGTH",
    "ELLIPSIS",
    "LINK_REMOVED",
    "BlockRule",
    "SafetyResult",
    "safety_check",
]

logger = logging.getLogger(__name__)

DEFAULT_MAX_LENGTH = 500

# Origins that may post links off the allow-list (flagged for moderators). Anything else,
# including an unknown origin, gets the strict bot treatment: failing closed is the safe default.
_LENIENT_ORIGINS = frozenset({"human", "system"})


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
