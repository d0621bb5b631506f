"""Supervised child processes: start one in its own process group, tied to the runner's life (a
parent-death signal and the watchdog), and pump its output to the console; signal its group; say
how it exited."""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chatter_site.lib.runner.console import Console

LOG_TAIL_LINES = 30
LOG_KEEP_LINES = 300  # more than shown, so a filtered tail still has something to show


@dataclass
class Child:
    """A supervised process; it leads its own process group so one signal reaches all it forked."""

    name: str
    proc: subprocess.Popen[bytes]
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_KEEP_LINES))
    reader: threading.Thread | None = None

    def exited(self) -> bool:
        return self.proc.poll() is not None

    def log_tail(self, *, without: str = "") -> str:
        lines = [line for line in list(self.tail) if not (without and without in line)][-LOG_TAIL_LINES:]
        if not lines:
            return f"    (nothing but lines about {without})" if without and self.tail else "    (no output)"
        return "\n".join(f"    {line}" for line in lines)


# --- processes ---------------------------------------------------------------------------------

PR_SET_PDEATHSIG = 1
# Resolved once in the parent: the code between fork and exec must do as little as possible.
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent_hook() -> Callable[[], None] | None:
    """preexec_fn that makes the kernel SIGTERM the child when the runner dies, even by SIGKILL.

    The death signal fires when the *thread* that forked the child exits, so children are only
    ever started from the main thread.
    """
    if _libc is None:
        return None
    parent_pid = os.getpid()

    def hook() -> None:
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        # The runner may have died between fork and prctl; then nobody would ever signal us.
        if os.getppid() != parent_pid:
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def _pump_output(child: Child, console: Console) -> None:
    assert child.proc.stdout is not None
    with child.proc.stdout:
        for raw in iter(child.proc.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            child.tail.append(line)
            console.child_line(child.name, line)


def start_child(*, name: str, argv: list[str], env: dict[str, str], cwd: Path, console: Console) -> Child:
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Own process group: a terminal's Ctrl-C reaches only the runner, which then stops the
        # children in order; and killpg later also reaches whatever a child forked (Celery's pool).
        process_group=0,
        preexec_fn=_die_with_parent_hook(),
    )
    child = Child(name=name, proc=proc)
    child.reader = threading.Thread(target=_pump_output, args=(child, console), name=f"output-{name}", daemon=True)
    child.reader.start()
    return child


def signal_group(child: Child, signum: int) -> None:
    try:
        os.killpg(child.proc.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # the whole group is already gone


WATCHDOG_SCRIPT = Path(__file__).with_name("watchdog.py")


class Watchdog:
    """The runner's side of watchdog.py: tells it which process groups to stop should the runner die."""

    def __init__(self, *, env: dict[str, str], cwd: Path) -> None:
        # Its own process group, so a signal to the runner's group (a terminal's, a test's
        # killpg) does not take it down with the runner it is there to outlive.
        self.proc = subprocess.Popen(
            [sys.executable, str(WATCHDOG_SCRIPT)], cwd=cwd, env=env, stdin=subprocess.PIPE, process_group=0
        )

    def watch(self, child: Child) -> None:
        self._send(f"+{child.proc.pid} {child.name}")

    def forget(self, child: Child) -> None:
        self._send(f"-{child.proc.pid}")

    def close(self) -> None:
        """After a clean stop: nothing is left for it to do."""
        self._send("exit")
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def _send(self, line: str) -> None:
        try:
            assert self.proc.stdin is not None
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except (OSError, ValueError):
            pass  # it died; the parent-death signal still reaches the direct children


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exit code {returncode}"
