"""`{% load scribe_tags %}{% scribe_panel room %}`: the scribe panel of the room page.

The room page belongs to chat, which imports no other app; the panel's data comes from here.
"""
from __future__ import annotations

from typing import Any

from django import template

from scribe import forms, selectors

register = template.Library()


@register.inclusion_tag("scribe/room_panel.html", takes_context=True)
def scribe_panel(context: template.Context, room: Any) -> dict[str, Any]:
    request = context.get("request")
    user = getattr(request, "user", None)
    can_run = selectors.user_can_run_scribe(user=user)
    return {
        "room": room,
        "documents": selectors.documents_for_room(room_id=room.pk),
        "can_run": can_run,
        "start_form": forms.StartForm(initial={"room": room.slug}) if can_run else None,
        "request": request,
        "csrf_token": context.get("csrf_token"),
        "user": user,
    }
