"""Connects the scribe to the chat gateway's signal. Receivers only enqueue."""
from __future__ import annotations

import logging
from typing import Any

from django.dispatch import receiver

from chat.events import message_persisted
from scribe.services import room_messages_trigger

logger = logging.getLogger("chatter.scribe")


@receiver(message_persisted, dispatch_uid="scribe-trigger-updates")
def trigger_updates(sender: Any, room_slug: str, messages: list[dict[str, Any]], **kwargs: Any) -> None:
    """Every persisted message of a scribed room triggers an update of its enabled documents."""
    try:
        room_messages_trigger(room_slug=room_slug)
    except Exception:
        # Never fail a message's publish: the next message, or the sweep, triggers the update.
        logger.exception("scribe trigger failed room=%s", room_slug)
