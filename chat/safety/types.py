"""What the safety gate takes and returns, and what it collects on the way."""

from __future__ import annotations

from dataclasses import dataclass


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
