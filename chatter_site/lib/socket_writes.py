"""Cheaper frame writes for a Daphne feeding many sockets (issue 12's profile).

The hub writes the same `messages` frame to every viewer of a room. Through the ASGI send each
write passes ten layers (the guard, the outage tracker, Channels' session wrapper, Daphne,
autobahn), re-encodes the JSON and rebuilds the WebSocket frame: `OutgoingFrame` encodes it once
and `frame_writer` puts those bytes on a socket's transport, under the same send bound the guard
applies, whenever nothing else stands in the way; otherwise the ASGI send handles it as before.

Twisted buffers every write and sends it on the next turn of the event loop: it registers the
socket for writability (an epoll_ctl), wakes for it, sends, and unregisters it (another epoll_ctl).
py-spy on a Daphne feeding 1,000 viewers put a quarter of its time there. `write_at_once` sends
when nothing is queued for that socket, as asyncio's own transports do, and queues only what the
socket did not take, so the order of bytes and the backlog Daphne reports stay as before.
"""
from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

try:  # Daphne serves through Twisted; elsewhere there is nothing to change
    from autobahn.websocket import protocol as autobahn_protocol
    from twisted.internet import tcp
except ImportError:
    autobahn_protocol = None  # type: ignore[assignment]
    tcp = None  # type: ignore[assignment]

_buffered_write = tcp.Connection.write if tcp is not None else None
# What frame_writer reads of autobahn's protocol (internals of the version in requirements.txt).
_PROTOCOL_STATE = ("state", "send_state", "_perMessageCompress", "transport")


class OutgoingFrame:
    """A text frame for many sockets: its JSON, and its WebSocket bytes built on first use."""

    __slots__ = ("text", "_wire")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: bytes | None = None

    @property
    def wire(self) -> bytes:
        if self._wire is None:
            self._wire = text_frame(self.text.encode())
        return self._wire


def text_frame(payload: bytes) -> bytes:
    """One unmasked, unfragmented WebSocket text frame (RFC 6455, section 5.2), as a server sends it."""
    length = len(payload)
    if length <= 125:
        header = struct.pack("!BB", 0x81, length)
    elif length <= 0xFFFF:
        header = struct.pack("!BBH", 0x81, 126, length)
    else:
        header = struct.pack("!BBQ", 0x81, 127, length)
    return header + payload


def frame_writer(protocol: Any, backlog: Callable[[], int], limit: int) -> Callable[[bytes], bool] | None:
    """A function that writes a ready frame to this socket and says True, or says False having written
    nothing: the socket is not open, autobahn is inside another message, the connection compresses,
    or more than `limit` bytes wait unsent (the ASGI send then closes it as a slow reader).
    None when the socket is not Daphne's autobahn protocol."""
    if autobahn_protocol is None or not isinstance(protocol, autobahn_protocol.WebSocketServerProtocol):
        return None
    if not all(hasattr(protocol, name) for name in _PROTOCOL_STATE):
        return None  # an autobahn whose internals moved: the ASGI send path, as before
    socket: Any = protocol  # autobahn's Twisted flavour, with a transport
    open_state = autobahn_protocol.WebSocketProtocol.STATE_OPEN
    between_messages = autobahn_protocol.WebSocketProtocol.SEND_STATE_GROUND

    def write(frame: bytes) -> bool:
        if (
            socket.state != open_state
            or socket.send_state != between_messages
            or socket._perMessageCompress is not None
            or backlog() > limit
        ):
            return False
        socket.transport.write(frame)
        return True

    return write


def write_at_once(self: Any, data: bytes) -> None:
    """tcp.Connection.write, sending at once when nothing is queued before `data`."""
    if (
        not data
        or self.dataBuffer
        or self._tempDataBuffer
        or not self.connected
        or self.disconnecting
        or self._writeDisconnecting
        or self._writeDisconnected
    ):
        _buffered_write(self, data)
        return
    try:
        sent = self.socket.send(data)
    except (BlockingIOError, InterruptedError):
        sent = 0
    except OSError:
        # A reset or a closed peer: Twisted's own write path meets the same error and closes.
        sent = 0
    if sent < len(data):
        _buffered_write(self, data[sent:])


def install() -> None:
    """Once per process, before sockets are fed (Hub start)."""
    if tcp is None:
        return
    tcp.Connection.write = write_at_once  # type: ignore[method-assign]
    # autobahn's sendData builds the arguments of a debug log line for every frame it writes,
    # colouring them with click even when debug logging is off (about 5 % of such a Daphne).
    for name in ("hltype", "hlval"):
        setattr(autobahn_protocol, name, _plain)


def _plain(value: Any, *args: Any, **kwargs: Any) -> Any:
    return value
