"""WebSocket sockets during an outage: closed with 4503, never an HTTP 500 on the handshake.

Loading the session (AuthMiddlewareStack) and the room happen before a consumer accepts; with
PostgreSQL or Redis down they raise, and Daphne answers the handshake with HTTP 500, which a
browser cannot tell from a bug. Wrapped in this, the socket is accepted and closed at once with
OUTAGE_CLOSE_CODE ("unavailable for a moment: back off and reconnect"); a socket already open when
the error escapes its consumer is closed the same way instead of with Daphne's 1011.
(1013 "Try Again Later" is the standard code, but Daphne only sends 1000 and 3000-4999.)
"""
from __future__ import annotations

import logging
from typing import Any

from django.db import DatabaseError
from redis.exceptions import RedisError

OUTAGE_CLOSE_CODE = 4503
OUTAGE_ERRORS = (DatabaseError, RedisError)

logger = logging.getLogger("chatter.ws")


class RefuseDuringOutage:
    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            await self.app(scope, receive, send)
            return
        state = {"accepted": False, "closed": False}

        async def tracking_send(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.accept":
                state["accepted"] = True
            elif message["type"] in ("websocket.close", "websocket.http.response.start"):
                state["closed"] = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except OUTAGE_ERRORS as exc:
            if state["closed"]:
                raise
            logger.warning("websocket path=%s closed %s: a service is unavailable: %r", scope.get("path"), OUTAGE_CLOSE_CODE, exc)
            if not state["accepted"]:
                await send({"type": "websocket.accept"})
            await send({"type": "websocket.close", "code": OUTAGE_CLOSE_CODE, "reason": "unavailable, retry shortly"})
