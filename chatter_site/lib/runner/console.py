"""The runner's console: one writer for its own lines and every child's, a coloured prefix per child."""
from __future__ import annotations

import os
import threading
from typing import Protocol

# ANSI colours per child; the runner's own lines stay uncoloured so they stand out.
PREFIX_COLOURS = {"redis": "31", "llm": "33", "chroma": "34", "web": "36", "worker": "32", "beat": "35"}
PREFIX_WIDTH = max(len(name) for name in PREFIX_COLOURS) + 2


class Output(Protocol):
    def write(self, text: str, /) -> object: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


class Console:
    """One writer for the runner and every child's reader thread, so lines never interleave mid-line."""

    def __init__(self, stream: Output, *, colour: bool | None = None) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._broken = False
        self._colour = colour if colour is not None else _isatty(stream) and not os.environ.get("NO_COLOR")

    def say(self, text: str = "") -> None:
        self._write(text)

    def error(self, text: str) -> None:
        self._write(self._paint("1;31", text))

    def child_line(self, name: str, line: str) -> None:
        prefix = f"[{name}]".ljust(PREFIX_WIDTH)
        self._write(f"{self._paint(PREFIX_COLOURS.get(name, '0'), prefix)} {line}")

    def _paint(self, colour: str, text: str) -> str:
        return f"\033[{colour}m{text}\033[0m" if self._colour else text

    def _write(self, text: str) -> None:
        with self._lock:
            if self._broken:
                return
            try:
                self._stream.write(text + "\n")
                self._stream.flush()
            except (OSError, ValueError):
                # The reader went away (`runchatter | tee` and Ctrl-C kills tee too): keep
                # supervising and shutting down silently rather than dying half-way.
                self._broken = True


def _isatty(stream: Output) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
