"""The document page's WebSocket: `/ws/scribe/<id>/`.

Server to client: `{"type": "hello", "document": {...}}` on connect, then `{"type": "document",
"document": {...}}` for every stored version and status change (the payload of GET /api/scribe/<id>
plus `html`, the rendered content). Client to server: `{"type": "ping"}` only.
"""
from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.untrusted_json import json_loads_untrusted
from scribe.events import CHANNEL_LAYER_ALIAS, document_group
from scribe.selectors import document_get, document_payload

MAX_FRAME_BYTES = 1024
MAX_INVALID_FRAMES = 20


def _payload(document_id: int) -> dict[str, Any]:
    return document_payload(document_get(key=document_id))


class ScribeConsumer(AsyncJsonWebsocketConsumer):
    channel_layer_alias = CHANNEL_LAYER_ALIAS
    async def connect(self) -> None:
        self.document_id: int = self.scope["url_route"]["kwargs"]["document_id"]
        self.group: str | None = None
        self.invalid_frames = 0
        try:
            await database_sync_to_async(document_get)(key=self.document_id)
        except ChatterError:
            await self.close(code=4404)  # unknown document: refused before accept
            return
        # Join first, read second: a version stored in between arrives as a frame after `hello`.
        self.group = document_group(self.document_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        payload = await database_sync_to_async(_payload)(self.document_id)
        await self.send_json({"type": "hello", "document": payload})

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        if text_data is None or len(text_data.encode()) > MAX_FRAME_BYTES:
            await self._refuse(ChatterError(ErrorCode.INVALID, "frames are small JSON text"))
            return
        try:
            content = json_loads_untrusted(text_data)
        except ValueError:
            await self._refuse(ChatterError(ErrorCode.INVALID, "frame is not valid JSON"))
            return
        if isinstance(content, dict) and content.get("type") == "ping" and set(content) == {"type"}:
            await self.send_json({"type": "pong"})
            return
        await self._refuse(ChatterError(ErrorCode.INVALID, 'the only frame a client sends is {"type": "ping"}'))

    async def _refuse(self, error: ChatterError) -> None:
        self.invalid_frames += 1
        await self.send_json(error.as_frame())
        if self.invalid_frames > MAX_INVALID_FRAMES:
            await self.close(code=1008)

    # --- channel-layer events (scribe.events) -------------------------------------------------------
    async def scribe_document(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "document", "document": event["document"]})
