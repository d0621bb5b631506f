"""The textbook Channels chat, as the baseline of bench/gateway_fanout.py.

What the Channels tutorial builds: each socket joins the room's group with its own channel, every
message is one `group_send`, and each consumer's `chat_message` handler writes ONE frame per message.
Served by Daphne as `bench.baseline_chat:application` with DJANGO_SETTINGS_MODULE=bench.baseline_settings
(RedisPubSubChannelLayer). No persistence, no safety gate, no seq: the load generator numbers the
messages itself.
"""
from __future__ import annotations

import json
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baseline_settings")
django_asgi_app = get_asgi_application()

from channels.generic.websocket import AsyncWebsocketConsumer  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.urls import path  # noqa: E402

EVENT_TYPE = "chat.message"


def group_name(slug: str) -> str:
    return f"baseline.{slug}"


class TextbookChatConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.group = group_name(self.scope["url_route"]["kwargs"]["slug"])
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        message = json.loads(text_data or "{}").get("message", "")
        await self.channel_layer.group_send(self.group, {"type": EVENT_TYPE, "message": message})

    async def chat_message(self, event: dict) -> None:
        await self.send(text_data=json.dumps({"message": event["message"]}))


async def publish(layer, slug: str, message: str) -> None:
    """What a producer does per message: one group_send (the bench's producers call this)."""
    await layer.group_send(group_name(slug), {"type": EVENT_TYPE, "message": message})


application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(
            URLRouter([path("ws/baseline/<slug:slug>/", TextbookChatConsumer.as_asgi())])
        ),
    }
)
