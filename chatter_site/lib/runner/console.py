"""The runner's console: one writer for its own lines and every child's.

Every child's output goes to `var/log/<child>.log`. The console shows the banner, then one line
per notable event and a status line a minute; `--verbose` shows every child's line as well, under
a coloured prefix. A child marks an event for the console with `chatter_site.lib.console_events`.
"""
from __future__ import annotations

import os
import threading
from datetime import datetime
from pathlib import Path
from typing import IO, Protocol

from chatter_site.lib.console_events import EVENT_MARK

# ANSI colours per child; the runner's own lines stay uncoloured so they stand out.
PREFIX_COLOURS = {"redis": "31", "llm": "33", "chroma": "34", "web": "36", "worker": "32", "beat": "35"}
PREFIX_WIDTH = max(len(name) for name in PREFIX_COLOURS) + 2
EVENT_NAME_WIDTH = 8
LOG_MAX_BYTES = 50 * 1024 * 1024  # then the log moves to <child>.log.1 and a new one starts


class Output(Protocol):
    def write(self, text: str, /) -> object: ...
    def flush(self) -> None: ...
    def isatty(self) -> bool: ...


class LogFiles:
    """`<dir>/<child>.log` per child, appended to across its restarts; the previous run's is kept as .1."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._files: dict[str, IO[bytes]] = {}

    def path(self, name: str) -> Path:
        return self.directory / f"{name}.log"

    def write(self, name: str, line: str) -> None:
        handle = self._files.get(name)
        if handle is None:
            handle = self._files[name] = self._open(name, fresh=True)
        elif handle.tell() > LOG_MAX_BYTES:
            handle.close()
            handle = self._files[name] = self._open(name, fresh=True)
        handle.write(line.encode("utf-8", errors="replace") + b"\n")
        handle.flush()

    def _open(self, name: str, *, fresh: bool) -> IO[bytes]:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.path(name)
        if fresh and path.exists():
            path.replace(path.with_name(path.name + ".1"))
        return open(path, "ab")

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


class Console:
    """One writer for the runner and every child's reader thread, so lines never interleave mid-line."""

    def __init__(
        self, stream: Output, *, colour: bool | None = None, verbose: bool = False, log_dir: Path | None = None
    ) -> None:
        self._stream = stream
        self._lock = threading.Lock()
        self._broken = False
        self._colour = colour if colour is not None else _isatty(stream) and not os.environ.get("NO_COLOR")
        self.verbose = verbose
        self.logs = LogFiles(log_dir) if log_dir is not None else None
        self._errors: dict[str, int] = {}  # error lines per child since the last status line

    def say(self, text: str = "") -> None:
        self._write(text)

    def error(self, text: str) -> None:
        self._write(self._paint("1;31", text))

    def event(self, source: str, text: str, *, alarm: bool = False) -> None:
        """One notable event, stamped with the local time: what a person watching the console needs."""
        line = f"{datetime.now():%H:%M:%S} {source.ljust(EVENT_NAME_WIDTH)} {text}"
        self._write(self._paint("1;31", line) if alarm else line)

    def child_line(self, name: str, line: str) -> None:
        with self._lock:
            if self.logs is not None:
                try:
                    self.logs.write(name, line)
                except OSError:
                    pass  # a full disk must not stop supervision; the console still has events
            if _is_error(line):
                self._errors[name] = self._errors.get(name, 0) + 1
        if line.startswith(EVENT_MARK):
            self.event(name, line[len(EVENT_MARK):])
        elif self.verbose:
            prefix = f"[{name}]".ljust(PREFIX_WIDTH)
            self._write(f"{self._paint(PREFIX_COLOURS.get(name, '0'), prefix)} {line}")

    def take_error_counts(self) -> dict[str, int]:
        with self._lock:
            counts, self._errors = self._errors, {}
        return counts

    def log_path(self, name: str) -> Path | None:
        return self.logs.path(name) if self.logs is not None else None

    def close(self) -> None:
        with self._lock:
            if self.logs is not None:
                self.logs.close()

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


def _is_error(line: str) -> bool:
    return "level=ERROR" in line or "level=CRITICAL" in line or line.startswith("Traceback (most recent call last)")


def _isatty(stream: Output) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False
