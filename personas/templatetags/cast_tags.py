"""`{% load cast_tags %}{% cast_provider_note %}`: what the room page says about the model behind the cast.

With no LLM endpoint configured the cast runs on the offline stand-in (chatter_site.lib.offline_llm):
staff get a banner saying so and how to switch, viewers a small note, so nobody takes its phrase-bank
lines for a language model's.
"""
from __future__ import annotations

from typing import Any

from django import template
from django.conf import settings

register = template.Library()


@register.inclusion_tag("personas/provider_note.html", takes_context=True)
def cast_provider_note(context: template.Context) -> dict[str, Any]:
    user = getattr(context.get("request"), "user", None)
    return {"offline": settings.LLM_OFFLINE, "staff": bool(getattr(user, "is_staff", False))}
