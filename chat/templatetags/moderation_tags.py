"""The room page's moderation bootstrap: who the viewer is to this room, the room's modes, CSRF."""
from __future__ import annotations

from django import template
from django.middleware.csrf import get_token
from django.utils.html import json_script

from chat.models import Room
from chat.moderation import sanction_active, sanction_error
from chat.schemas import MAX_TIMEOUT_SECONDS
from chat.selectors import room_moderator_is

register = template.Library()


@register.simple_tag(takes_context=True)
def moderation_bootstrap(context, room: Room) -> str:
    request = context["request"]
    user = request.user
    signed_in = user.is_authenticated
    sanction = sanction_active(room_id=room.pk, user_id=user.pk) if signed_in else None
    data = {
        "room": room.slug,
        "me": user.get_username() if signed_in else None,
        "moderator": room_moderator_is(user=user, room=room),
        "canReport": signed_in,
        "csrf": get_token(request) if signed_in else None,
        "mode": {"slow_seconds": room.slow_mode_seconds, "emote_only": room.emote_only},
        "sanction": sanction_error(sanction).as_frame() if sanction else None,
        "maxTimeoutSeconds": MAX_TIMEOUT_SECONDS,
    }
    return json_script(data, "moderation-bootstrap")
