"""PyAV decoding of a file, an http(s)/rtmp/rtsp/srt URL or stdin into 16 kHz mono float32 chunks."""
from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from chatter_site.lib.errors import ChatterError, ErrorCode
from streamctx.types import AudioChunk

logger = logging.getLogger(__name__)

SAMPLE_RATE = 16000
# Decoded audio is handed over (and, with realtime, paced to wall time) in pieces this long: the
# granularity at which a pause can be noticed.
DECODE_HOP_SECONDS = 0.1
URL_SCHEMES = ("http://", "https://", "rtmp://", "rtmps://", "rtsp://", "srt://")
OPEN_TIMEOUT_SECONDS = 15.0
READ_TIMEOUT_SECONDS = 30.0
# The protocols FFmpeg may use for each kind of source, nested opens included: a playlist (HLS,
# a local .m3u8) names other URLs, and without a whitelist FFmpeg follows any of them (file:,
# concat:, data:, another host's http:). Redirects stay within the scheme family listed here.
PROTOCOLS_BY_SCHEME = {
    "http": "http,https,tls,tcp",
    "https": "http,https,tls,tcp",
    "rtmp": "rtmp,rtmps,tls,tcp",
    "rtmps": "rtmp,rtmps,tls,tcp",
    "rtsp": "rtsp,rtp,srtp,udp,tcp,tls",
    "srt": "srt,udp",
}
FILE_PROTOCOLS = "file"


def audio_decode(
    uri: str, *, stop: threading.Event, realtime: bool = True, chunk_seconds: float = DECODE_HOP_SECONDS
) -> Iterator[AudioChunk]:
    """16 kHz mono float32 chunks of `uri` (a file, an http(s)/rtmp/rtsp/srt URL, or - for stdin).

    The source is opened now, so a missing file or undecodable input fails here with
    ChatterError(ErrorCode.INVALID). With `realtime`, each chunk is released when it would have finished
    playing, so a file behaves like a live stream.
    """
    if chunk_seconds <= 0:
        raise ChatterError(ErrorCode.INVALID, "chunk_seconds must be positive")
    container = _container_open(uri)
    return _decoded_chunks(container, uri=uri, stop=stop, realtime=realtime, hop=max(1, int(chunk_seconds * SAMPLE_RATE)))


def _container_open(uri: str):
    try:
        if uri == "-":
            return av.open(sys.stdin.buffer, mode="r")
        if uri.lower().startswith(URL_SCHEMES):
            protocols = PROTOCOLS_BY_SCHEME[uri.split(":", 1)[0].lower()]
            return av.open(
                uri, mode="r", timeout=(OPEN_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS), options={"protocol_whitelist": protocols}
            )
        path = Path(uri).expanduser()
        if not path.is_file():
            raise ChatterError(ErrorCode.INVALID, f"audio file not found: {uri}")
        container = av.open(str(path), mode="r", options={"protocol_whitelist": FILE_PROTOCOLS})
    except av.error.FFmpegError as error:
        raise ChatterError(ErrorCode.INVALID, f"cannot decode audio from {uri}: {error.strerror or error}") from None
    if not container.streams.audio:
        container.close()
        raise ChatterError(ErrorCode.INVALID, f"{uri} has no audio stream")
    return container


def _decoded_chunks(container, *, uri: str, stop: threading.Event, realtime: bool, hop: int) -> Iterator[AudioChunk]:
    # Channels are resampled as they are and averaged here: ffmpeg's own downmix to mono adds the
    # two channels of stereo at -3 dB each, so identical channels came out 41 % louder than either
    # (a 0.9 peak became 1.27, past full scale).
    resampler = av.AudioResampler(format="fltp", rate=SAMPLE_RATE)
    pending: list[np.ndarray] = []
    pending_samples = 0
    emitted = 0
    clock_start: float | None = None

    def release(samples: np.ndarray) -> AudioChunk | None:
        nonlocal emitted, clock_start
        chunk = AudioChunk(start=emitted / SAMPLE_RATE, samples=samples, sample_rate=SAMPLE_RATE)
        emitted += len(samples)
        if realtime:
            if clock_start is None:
                clock_start = time.monotonic() - chunk.start
            due = clock_start + emitted / SAMPLE_RATE
            wait = due - time.monotonic()
            if wait > 0 and stop.wait(wait):
                return None
        return chunk

    try:
        stream = container.streams.audio[0]
        try:
            for frame in _frames(container, stream):
                if stop.is_set():
                    return
                for out in resampler.resample(frame):
                    data = _samples(out)
                    pending.append(data)
                    pending_samples += len(data)
                while pending_samples >= hop:
                    joined = np.concatenate(pending)
                    pending, pending_samples = [joined[hop:]], len(joined) - hop
                    chunk = release(joined[:hop])
                    if chunk is None:
                        return
                    yield chunk
            for out in resampler.resample(None):
                pending.append(_samples(out))
        except av.error.FFmpegError as error:
            if emitted == 0:
                raise ChatterError(ErrorCode.INVALID, f"cannot decode audio from {uri}: {error.strerror or error}") from None
            logger.warning("audio source %s ended on a decoding error after %.1f s: %s", uri, emitted / SAMPLE_RATE, error)
        tail = np.concatenate(pending) if pending else np.zeros(0, dtype=np.float32)
        if len(tail):
            chunk = release(tail)
            if chunk is not None:
                yield chunk
        if emitted == 0:
            raise ChatterError(ErrorCode.INVALID, f"{uri} holds no decodable audio")
    finally:
        container.close()


def _frames(container, stream) -> Iterator:
    for packet in container.demux(stream):
        yield from packet.decode()


def _samples(frame) -> np.ndarray:
    """A planar frame (channels × samples) as one mono channel: the mean of its channels."""
    planes = frame.to_ndarray().astype(np.float32, copy=False)
    return planes[0] if planes.shape[0] == 1 else planes.mean(axis=0, dtype=np.float32)
