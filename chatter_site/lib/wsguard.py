"""ASGI middleware in front of every WebSocket: connections per address, and a bound on unsent output.

How it works: docs/architecture.md, "Inside the parts" › chatter_site/lib/wsguard.py."""
from __future__ import annotations

import asyncio
import functools
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import redis.asyncio as aioredis
from django.conf import settings

from chatter_site.lib.clientaddr import address_bucket, in_networks, scope_client_ip
from chatter_site.lib.metrics import counter
from chatter_site.lib.socket_writes import frame_writer

logger = logging.getLogger(__name__)

CLOSE_SLOW_CONSUMER = 4408  # "you fell behind": reconnect and resume after your last seq
CLOSE_TOO_MANY_CONNECTIONS = 4429  # this address already holds CHAT_WS_MAX_PER_IP sockets
# The scope key under which consumers find the probe (bytes not yet written to the client).
SEND_BACKLOG_SCOPE_KEY = "chatter.send_backlog"
# ... and a writer of ready frames under the same bound (chatter_site.lib.socket_writes.frame_writer).
FRAME_WRITER_SCOPE_KEY = "chatter.frame_writer"
LEASE_SECONDS = 60
KEY_PREFIX = "chatter:wsip:"

WS_REFUSED = counter("chatter_ws_refused_total", "WebSockets refused by the guard", ("reason",))
WS_SLOW_DROPPED = counter("chatter_ws_slow_dropped_total", "WebSockets closed because the client stopped reading")

# KEYS[1] the address's set; ARGV now, lease end, member, limit, key ttl. 1 = admitted, 0 = full.
_ADMIT = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[5])
return 1
"""

ASGIApp = Callable[[dict, Callable, Callable], Awaitable[None]]


def client_ip(scope: dict[str, Any]) -> str | None:
    """The client's address: the peer, or X-Forwarded-For's nearest untrusted hop behind our proxies."""
    return scope_client_ip(scope)


def daphne_protocol(send: Callable) -> Any:
    """The autobahn protocol behind a socket: Daphne hands the application
    `functools.partial(server.handle_reply, protocol)`. None under another server."""
    protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
    return protocol if hasattr(protocol, "transport") else None


def send_backlog_probe(protocol: Any) -> Callable[[], int] | None:
    """A function returning the bytes Daphne holds for this socket but the client has not read.

    The protocol's transport (unwrapped from TLS or policy wrappers) is a Twisted FileDescriptor
    whose write buffer is `dataBuffer[offset:]` plus `_tempDataBuffer`.
    """
    if protocol is None:
        return None

    def backlog() -> int:
        transport = protocol.transport
        for _ in range(4):
            if transport is None or hasattr(transport, "_tempDataLen"):
                break
            transport = getattr(transport, "transport", None)
        if transport is None or not hasattr(transport, "_tempDataLen"):
            return 0
        return len(transport.dataBuffer) - transport.offset + transport._tempDataLen

    try:
        backlog()
    except Exception:
        return None
    return backlog


class _Leases:
    """This process's sockets in the per-address sets, renewed by one loop (one per event loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.redis = aioredis.Redis.from_url(settings.REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
        self.admit = self.redis.register_script(_ADMIT)
        self.held: dict[str, str] = {}  # member → key
        self.renewer: asyncio.Task | None = None
        self.prefix = f"{os.uname().nodename}:{os.getpid()}:"

    async def acquire(self, address: str, limit: int) -> str | Literal[False] | None:
        """The lease's member, False when the address is full, None when Redis could not tell."""
        key, member = KEY_PREFIX + address, self.prefix + uuid.uuid4().hex
        now = time.time()
        try:
            admitted = await self.admit(keys=[key], args=[now, now + LEASE_SECONDS, member, limit, LEASE_SECONDS * 2])
        except Exception:
            logger.warning("ws guard could not count connections address=%s; letting it in", address, exc_info=True)
            return None
        if not admitted:
            return False
        self.held[member] = key
        if self.renewer is None or self.renewer.done():
            self.renewer = self.loop.create_task(self._renew(), name="wsguard-renew")
        return member

    async def release(self, member: str) -> None:
        key = self.held.pop(member, None)
        if key is None:
            return
        try:
            await self.redis.zrem(key, member)
        except Exception:
            logger.debug("ws guard release failed; the lease expires by itself", exc_info=True)

    async def _renew(self) -> None:
        while self.held:
            await asyncio.sleep(LEASE_SECONDS / 3)
            try:
                until = time.time() + LEASE_SECONDS
                pipe = self.redis.pipeline(transaction=False)
                for member, key in list(self.held.items()):
                    pipe.zadd(key, {member: until}, xx=True)
                    pipe.expire(key, LEASE_SECONDS * 2)
                await pipe.execute()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.warning("ws guard lease renewal failed", exc_info=True)


_leases: _Leases | None = None


def _leases_for_loop() -> _Leases:
    global _leases
    if _leases is None or _leases.loop is not asyncio.get_running_loop():
        _leases = _Leases()
    return _leases


class WebSocketGuard:
    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "websocket":
            await self.inner(scope, receive, send)
            return
        address = client_ip(scope)
        limit = settings.CHAT_WS_MAX_PER_IP
        lease = None
        if limit and address and not in_networks(address, settings.CHAT_WS_LIMIT_EXEMPT):
            leases = _leases_for_loop()
            lease = await leases.acquire(address_bucket(address), limit)
            if lease is False:
                WS_REFUSED.labels(reason="per_ip").inc()
                logger.info("ws refused address=%s reason=per_ip limit=%d", address, limit)
                await _refuse(receive, send, CLOSE_TOO_MANY_CONNECTIONS)
                return
        protocol = daphne_protocol(send)
        if protocol is not None and hasattr(protocol, "failByDrop"):
            # Protocol violations (a frame over --websocket-max-message-size) get a close frame the
            # client can read (1009 "message too big") rather than autobahn's bare TCP drop.
            protocol.failByDrop = False
        probe = send_backlog_probe(protocol)
        writer = frame_writer(protocol, probe, settings.CHAT_WS_SEND_BUFFER_BYTES) if probe else None
        scope = {**scope, SEND_BACKLOG_SCOPE_KEY: probe, FRAME_WRITER_SCOPE_KEY: writer}
        try:
            await self.inner(scope, receive, _bounded_send(send, probe, address) if probe else send)
        finally:
            if lease:
                await leases.release(lease)


async def _refuse(receive: Callable, send: Callable, code: int) -> None:
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    await send({"type": "websocket.close", "code": code})


def _bounded_send(send: Callable, probe: Callable[[], int], address: str | None) -> Callable:
    limit = settings.CHAT_WS_SEND_BUFFER_BYTES
    dropped = False

    async def bounded(message: dict[str, Any]) -> None:
        nonlocal dropped
        if dropped:
            return  # closing: the consumer learns it from websocket.disconnect
        if message["type"] == "websocket.send":
            backlog = probe()
            if backlog > limit:
                dropped = True
                WS_SLOW_DROPPED.inc()
                logger.warning("ws closed a client that stopped reading address=%s unsent_bytes=%d limit=%d", address, backlog, limit)
                await send({"type": "websocket.close", "code": CLOSE_SLOW_CONSUMER})
                return
        await send(message)

    return bounded
