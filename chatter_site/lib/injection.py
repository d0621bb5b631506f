"""Spotting text that tries to instruct a model, however it is spelt.

Chat reaches the model only as quoted data, so this is not what keeps a persona in character. It
guards the places where text outlives the moment and comes back in a prompt with more authority
than chat has: a memory (shown to the persona as "things you remember"), a drift mood (shown as
"your current mood") and a persona's own line (read by the rest of the cast). There, an
instruction is refused, whether written plainly or dressed up as l33t, homoglyphs, zero-width
padding, s p a c e d letters, rot13, base64 or reversed.
"""
from __future__ import annotations

import base64
import binascii
import codecs
import re
import unicodedata

# Letters from other scripts that look like Latin ones ("іgnore" with a Cyrillic і).
_HOMOGLYPHS = str.maketrans(
    "аеорсухіјѕԁɡһкмтвнοαρτιυνκεмԛԝ",
    "aeopcyxijsdghkmtbhoaptiuvkemqw",
)
_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "!": "i", "|": "l"})
_SPLIT_LETTERS_RE = re.compile(r"\b(?:[a-z] ){2,}[a-z]\b")
_BASE64_TOKEN_RE = re.compile(r"[A-Za-z0-9+/_-]{16,}={0,2}")

_OBJECT = r"(?:instructions?|rules?|prompts?|directives?|guidelines?|programming|restrictions?|filters?|guardrails?|training)"
_PATTERNS = re.compile(
    "|".join(
        [
            rf"\b(?:ignore|disregard|forget|override|bypass|skip|drop)\b(?: \w+){{0,4}} {_OBJECT}\b",
            r"\bsystem (?:prompt|message|instructions?)\b",
            r"\b(?:jailbreak|jailbroken|jailbreaking)\b|\b(?:dan|developer|god|debug|admin|unfiltered) mode\b|\bdo anything now\b",
            rf"\b(?:reveal|repeat|print|show|leak|output|recite|dump|paste|spell out|translate|encode)\b(?: \w+){{0,4}} "
            rf"(?:{_OBJECT}|persona card|card|system message|initial message|configuration|config)\b",
            r"\bfrom now on\b|\byou are now\b|\byou re now\b|\bnew (?:instructions?|rules|persona|role|directive)\b",
            r"\b(?:pretend to be|roleplay as|role play as|act as (?:an? |the |my )?(?:ai|assistant|admin|moderator|system|developer|dan|unfiltered|evil))\b",
            r"\b(?:set|change|raise|lower|increase|decrease|max|maximi[sz]e) (?:your|my|the) "
            r"(?:chattiness|hype|temperature|mood|settings?|knobs?|personality|bot affinity|handle)\b",
            r"\b(?:obey|comply with) (?:me|chat|us|every|all|this|the following|my)\b",
            r"\b(?:assistant|system|developer) ?:|\[ ?(?:system|inst|admin) ?\]|< ?\|? ?im ?start\b",
            r"\b(?:repeat|print|show|output|recite|copy) (?:\w+ ){0,3}(?:above|verbatim|word for word)\b",
            r"\bstarting with you are\b",
            r"\bpersona card\b|\brole :? (?:system|developer)\b|\b(?:everything|all) you (?:remember|know) about\b",
            r"\b(?:summari[sz]e|list|explain|describe|post|paste|share|say|give|type|write)\w*\b(?: \w+){0,3} "
            r"(?:your|the|its|their) (?:rules|instructions|prompt|guidelines|programming|configuration)\b",
            r"\b(?:repeat|print|show|output|recite|copy)\w* (?:\w+ ){0,3}(?:above|verbatim|word for word)\b",
        ]
    )
)


def normalise_for_matching(text: str) -> str:
    """NFKC, invisible and combining characters dropped, lower case, look-alike letters made Latin."""
    folded = unicodedata.normalize("NFKC", text)
    visible = "".join(c for c in folded if unicodedata.category(c) not in ("Cf", "Mn", "Me", "Cc"))
    return visible.lower().translate(_HOMOGLYPHS)


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+|[\[\]<>|:]", text))


_TAG_CHARS = {cp: cp - 0xE0000 for cp in range(0xE0020, 0xE007F)}  # "invisible ASCII" hidden in Unicode tags
_SPACED_LETTERS_RE = re.compile(r"(?<=\b\w) (?=\w\b)")  # "i g n o r e   y o u r" -> "ignore   your"
_HEX_TOKEN_RE = re.compile(r"\b(?:[0-9a-f]{2}[ :]?){8,}")


def _variants(text: str) -> list[str]:
    hidden = "".join(chr(_TAG_CHARS[ord(c)]) for c in text if ord(c) in _TAG_CHARS)
    base = normalise_for_matching(text)
    plain = _words(base)
    leet = _words(base.translate(_LEET))
    variants = [plain, leet, _words(codecs.encode(base, "rot13")), _words(base[::-1])]
    variants += [_SPLIT_LETTERS_RE.sub(lambda m: m.group().replace(" ", ""), v) for v in (plain, leet)]
    variants.append(_words(_SPACED_LETTERS_RE.sub("", base)))
    if hidden:
        variants.append(_words(normalise_for_matching(hidden)))
    decoded = [decode_base64_text(token) for token in _BASE64_TOKEN_RE.findall(text)]
    for token in _HEX_TOKEN_RE.findall(base):
        try:
            decoded.append(bytes.fromhex(re.sub(r"[ :]", "", token)).decode("utf-8"))
        except ValueError:
            pass
    variants += [_words(normalise_for_matching(d)) for d in decoded if d]
    return variants


def decode_base64_text(token: str) -> str | None:
    """The text a base64 token stands for, when it is mostly printable text; else None."""
    padded = token + "=" * (-len(token) % 4)
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            raw = decode(padded)
        except (binascii.Error, ValueError):
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if text and sum(c.isprintable() for c in text) / len(text) > 0.9:
            return text
    return None


def looks_like_instruction(text: str) -> bool:
    """True when `text` tries to instruct a model (plainly or encoded)."""
    if not text:
        return False
    return any(_PATTERNS.search(variant) for variant in _variants(text))
