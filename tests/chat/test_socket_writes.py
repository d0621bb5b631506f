"""The hub's cheaper writes (chatter_site.lib.socket_writes): frames a WebSocket client parses, and
Twisted writes that go out at once without reordering or losing bytes when the socket is full."""
from __future__ import annotations

import socket

import pytest
from twisted.internet import tcp
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from chatter_site.lib.socket_writes import OutgoingFrame, text_frame, write_at_once


def parsed(wire: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(wire)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        assert not reader.buffer, "bytes left after the frame"
        return done.value
    raise AssertionError("the frame was incomplete")


@pytest.mark.parametrize(
    "text", ["", "x", "x" * 125, "x" * 126, "x" * 65_535, "x" * 65_536, "é💬" * 100_000], ids=lambda text: f"{len(text.encode())}B"
)
def test_a_frame_of_any_size_parses_as_one_final_text_frame(text):
    frame = parsed(text_frame(text.encode()))
    assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, text)


def test_the_shared_frame_is_encoded_once():
    frame = OutgoingFrame('{"type": "messages", "items": []}')
    assert frame.wire is frame.wire
    assert parsed(frame.wire).data == frame.text.encode()


class RecordingReactor:
    """The unit's edge: which descriptors asked to be told when they can write."""

    def __init__(self) -> None:
        self.writers: set = set()

    def addWriter(self, writer) -> None:  # noqa: N802 (Twisted's name)
        self.writers.add(writer)

    def removeWriter(self, writer) -> None:  # noqa: N802
        self.writers.discard(writer)


@pytest.fixture
def connection():
    ours, peer = socket.socketpair()
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16_384)
    reactor = RecordingReactor()
    conn = tcp.Connection(ours, protocol=None, reactor=reactor)
    conn.connected = True
    yield conn, peer, reactor
    ours.close()
    peer.close()


def read_all(peer: socket.socket) -> bytes:
    peer.setblocking(False)
    chunks = []
    while True:
        try:
            chunk = peer.recv(1 << 20)
        except BlockingIOError:
            return b"".join(chunks)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def test_it_sends_at_once_when_nothing_is_queued(connection):
    conn, peer, reactor = connection
    write_at_once(conn, b"hello")
    assert read_all(peer) == b"hello"
    assert not reactor.writers and not conn._tempDataBuffer and not conn.dataBuffer


def test_it_queues_what_a_full_socket_did_not_take_and_keeps_the_order(connection):
    conn, peer, reactor = connection
    big = bytes(range(256)) * 4096  # 1 MiB: more than the socket takes
    write_at_once(conn, big)
    assert reactor.writers == {conn}, "the rest waits for writability"
    received = read_all(peer)  # the socket has room again, but the queued bytes go first
    write_at_once(conn, b"after")
    for _ in range(10_000):
        received += read_all(peer)
        if not conn.dataBuffer and not conn._tempDataBuffer:
            break
        conn.doWrite()
    received += read_all(peer)
    assert received == big + b"after"
    assert not reactor.writers


def test_it_leaves_a_closing_connection_to_twisted(connection):
    conn, peer, reactor = connection
    conn.disconnecting = True
    write_at_once(conn, b"late")
    assert read_all(peer) == b""
    assert conn._tempDataBuffer == [b"late"]


def test_it_leaves_sockets_it_cannot_read_the_state_of_to_the_asgi_send():
    from autobahn.twisted.websocket import WebSocketServerProtocol

    from chatter_site.lib.socket_writes import frame_writer

    class NotAutobahn:
        state = send_state = transport = _perMessageCompress = None

    assert frame_writer(NotAutobahn(), backlog=lambda: 0, limit=1) is None
    # autobahn's own protocol before its connection is made has no state yet (as one whose internals moved)
    assert frame_writer(WebSocketServerProtocol(), backlog=lambda: 0, limit=1) is None
