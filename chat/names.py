"""Which names a viewer may take at sign-up (SPEC 11, "Names").

A name is refused when it is a reserved word, the handle of a persona, or confusable with a name
already taken. "Confusable" compares skeletons: NFKC, every character replaced by one
representative of its class of look-alikes (Unicode's confusables data, through the
`confusable-homoglyphs` package: Cyrillic а and Latin a, 1 l I and |, 0 and O, …), case folded,
then the multi-letter look-alikes (rn → m, vv → w). Two names with the same skeleton read the same.

Apps that own names chat does not know about (personas) register a source of names here in their
AppConfig.ready(); chat imports no other app.
"""
from __future__ import annotations

import json
import re
import string
import unicodedata
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import resources

# Whole names (compared by skeleton, with separators and trailing digits ignored) nobody may take.
RESERVED_WORDS = frozenset(
    {
        "admin", "administrator", "moderator", "mod", "mods", "staff", "system", "chatter", "root", "support",
        "official", "owner", "host", "broadcaster", "streamer", "everyone", "here", "channel", "bot", "bots",
        "server", "null", "none", "undefined", "anonymous", "deleted", "unknown", "security", "help",
        "webmaster", "postmaster", "abuse", "noreply", "twitch",
    }
)
# Prefixes kept for the system's own accounts (the replay tool posts as `replay_<name>`).
RESERVED_PREFIXES = ("replay_", "system_", "admin_", "mod_", "staff_")
# Words that may not appear anywhere in a name: "xXmoderatorXx" impersonates just as well.
RESERVED_INFIXES = ("administrator", "moderator", "chatterstaff")

_SEPARATORS = re.compile(r"[\W_]+")
_MULTI = (("rn", "m"), ("vv", "w"))
_BIDI_MARKS = str.maketrans("", "", "\u200e\u200f")

NameSource = Callable[[], Iterable[str]]
_name_sources: list[NameSource] = []


def name_source_register(source: NameSource) -> None:
    """Another app's names that viewers may not take or imitate (e.g. persona handles)."""
    if source not in _name_sources:
        _name_sources.append(source)


@lru_cache(maxsize=1)
def _representatives() -> dict[str, str]:
    """character -> the representative of its look-alike class (ASCII when the class has one)."""
    raw = json.loads(resources.files("confusable_homoglyphs").joinpath("confusables.json").read_text("utf-8"))
    parent: dict[str, str] = {}

    def find(char: str) -> str:
        root = char
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(char, char) != root:  # path compression
            parent[char], char = root, parent[char]
        return root

    def union(one: str, other: str) -> None:
        a, b = find(one), find(other)
        if a != b:
            parent[a] = b

    seen: set[str] = set()
    for key, entries in raw.items():
        key = key.translate(_BIDI_MARKS)
        if len(key) != 1:
            continue
        for entry in entries:
            other = entry["c"].translate(_BIDI_MARKS)
            if len(other) == 1:
                union(key, other)
                seen.update((key, other))
    # Names are compared without case: O, o and 0 read alike. ASCII only: folding every script's
    # letters chains unrelated classes together (ſ folds to s and looks like f).
    for upper in string.ascii_uppercase:
        union(upper, upper.lower())
        seen.update((upper, upper.lower()))
    members: dict[str, list[str]] = {}
    for char in seen:
        members.setdefault(find(char), []).append(char)
    table: dict[str, str] = {}
    for group in members.values():
        # Prefer a lowercase ASCII letter, then any ASCII, so skeletons of plain names stay readable.
        best = min(group, key=lambda c: (not (c.isascii() and c.islower()), not c.isascii(), c))
        for char in group:
            table[char] = best
    return table


def name_skeleton(name: str) -> str:
    """The form two look-alike names share; used only for comparing, never shown."""
    table = _representatives()
    text = unicodedata.normalize("NFKC", name).casefold()
    text = "".join(table.get(char, char) for char in text)
    for many, one in _MULTI:
        text = text.replace(many, one)
    return text


@lru_cache(maxsize=1)
def _reserved_skeletons() -> frozenset[str]:
    return frozenset(name_skeleton(word) for word in RESERVED_WORDS)


def _core(skeleton: str) -> str:
    """The skeleton without separators and the digits around it: `_Mod_1` -> `mod`."""
    return _SEPARATORS.sub("", skeleton).strip("0123456789") or skeleton


def name_reserved_reason(name: str) -> str | None:
    """Why the name is reserved, or None."""
    skeleton = name_skeleton(name)
    if _core(skeleton) in _reserved_skeletons() or skeleton in _reserved_skeletons():
        return "is reserved"
    for prefix in RESERVED_PREFIXES:
        if skeleton.startswith(name_skeleton(prefix)):
            return f"may not start with “{prefix}”"
    flat = _SEPARATORS.sub("", skeleton)
    for infix in RESERVED_INFIXES:
        if name_skeleton(infix) in flat:
            return f"may not contain “{infix}”"
    return None


def name_conflict(name: str, *, taken: Iterable[str]) -> str | None:
    """The taken name that reads the same as `name` (same skeleton), or None."""
    skeleton = name_skeleton(name)
    for other in taken:
        if name_skeleton(other) == skeleton:
            return other
    return None


def registered_names() -> Iterable[str]:
    for source in _name_sources:
        yield from source()
