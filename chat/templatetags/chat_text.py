"""`{{ text|chat_emotes }}`: a chat line with its emotes drawn as on the room page (richtext.js):
the bundled emote images (static/emotes/); a name without an image stays a coloured chip."""
from __future__ import annotations

import re

from django import template
from django.templatetags.static import static
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe

from chat.trends import EMOTE_SET

register = template.Library()
_WHITESPACE = re.compile(r"(\s+)")


def emote_hue(name: str) -> int:
    """A 32-bit string hash (Java's String.hashCode) mod 360, so an emote keeps its colour on every page."""
    value = 0
    for char in name:
        value = (value * 31 + ord(char)) & 0xFFFFFFFF
    if value >= 0x80000000:
        value -= 0x100000000
    return abs(value) % 360


def emote_html(name: str) -> SafeString:
    if name in EMOTE_SET:
        return format_html(
            '<img class="emote" src="{}" alt="{}" title="{}" width="56" height="56" draggable="false">',
            static(f"emotes/{name}.svg"), name, name,
        )
    return format_html('<span class="emote" title="{}" style="--emote-hue: {}">{}</span>', name, emote_hue(name), name)


@register.filter
def chat_emotes(text: str) -> SafeString:
    parts = _WHITESPACE.split(str(text))
    return mark_safe("".join(emote_html(part) if part in EMOTE_SET else conditional_escape(part) for part in parts))


@register.filter
def emote_chip(name: str) -> SafeString:
    return emote_html(str(name))
