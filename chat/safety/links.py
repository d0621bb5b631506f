"""Links: detection, normalisation and the allow-list, plus the combined links-and-PII pass."""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

from chat.safety.pii import _redact_emails, _redact_pii, _valid_ipv4
from chat.safety.types import _Findings

LINK_REMOVED = "[link removed]"


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
