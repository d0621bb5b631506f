"""Celery entry points of the chat app; each calls one service."""
from __future__ import annotations

from typing import Any

from celery import shared_task

from chat.services import conversations_close_idle, draft_parse, message_ingest, trends_snapshot_all_live
from chatter_site.lib.errors import ChatterError


@shared_task(ignore_result=True)
def trends_snapshot_task() -> int:
    return trends_snapshot_all_live()


@shared_task(ignore_result=True)
def conversations_close_idle_task() -> int:
    return conversations_close_idle()


@shared_task(ignore_result=True, acks_late=True)
def message_ingest_task(draft: dict[str, Any]) -> str | None:
    """chat.ingest for producers outside a web process. Idempotent through the draft's client_id."""
    try:
        message = message_ingest(draft=draft_parse(draft))
    except ChatterError:
        return None  # refused and recorded by the gateway; retrying would refuse again
    return str(message.id)
