"""Group names, Redis keys and event payloads of the scribe, shared by senders and the consumer.

Viewers of a document page join the channel-layer group `scribe.<id>`; every stored version and
every status change is pushed there (on commit) as one event carrying the whole document payload,
so a client never has to fetch anything to catch up.
"""
from __future__ import annotations

import logging
from typing import Any

from channels.layers import get_channel_layer

from chatter_site.lib.asyncbridge import run_coroutine
from scribe import metrics

logger = logging.getLogger("chatter.scribe")

# The channel layer of document sockets (settings.CHANNEL_LAYERS["scribe"]: see the comment there).
CHANNEL_LAYER_ALIAS = "scribe"
# Consumer handler names: "scribe.document" → ScribeConsumer.scribe_document
EVENT_DOCUMENT = "scribe.document"


def document_group(document_id: int) -> str:
    return f"scribe.{document_id}"


# --- Redis keys (scribe/coordination.py) --------------------------------------------------------
def lock_key(document_id: int) -> str:
    return f"chatter:scribe:lock:{document_id}"


def dirty_key(document_id: int) -> str:
    return f"chatter:scribe:dirty:{document_id}"


def queued_key(document_id: int) -> str:
    return f"chatter:scribe:queued:{document_id}"


def recheck_key(document_id: int) -> str:
    return f"chatter:scribe:recheck:{document_id}"


def enabled_room_key(room_slug: str) -> str:
    return f"chatter:scribe:enabled:{room_slug}"


ENABLED_INDEX_READY_KEY = "chatter:scribe:enabled-index-ready"


def document_publish(*, document: dict[str, Any]) -> None:
    """Push a document payload (scribe.selectors.document_payload) to the page's viewers."""
    try:
        run_coroutine(
            get_channel_layer(CHANNEL_LAYER_ALIAS).group_send(
                document_group(document["id"]), {"type": EVENT_DOCUMENT, "document": document}
            ),
            timeout=5.0,
        )
    except Exception:
        # The stored version is not lost: a page that reconnects gets the current version in `hello`.
        metrics.PUSH_FAILURES.inc()
        logger.exception("scribe push failed document=%s", document.get("id"))
