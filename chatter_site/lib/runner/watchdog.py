"""The runner's watchdog: stops every child's process group when the runner dies without stopping them.

How it works: docs/architecture.md, "Inside the parts" › chatter_site/lib/runner/watchdog.py."""
from __future__ import annotations

import os
import signal
import sys
import time

GRACE_SECONDS = 10.0  # as the runner's own STOP_TIMEOUT
POLL_SECONDS = 0.1


def live_members(pgids: set[int]) -> set[int]:
    """The groups among `pgids` that still hold a process that is not a zombie."""
    alive: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                fields = handle.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        state, pgrp = fields[0], int(fields[2])
        if pgrp in pgids and state not in (b"Z", b"X"):
            alive.add(pgrp)
    return alive


def signal_groups(pgids: set[int], signum: int) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, signum)
        except (ProcessLookupError, PermissionError):
            pass


def stop_groups(groups: dict[int, str], *, grace: float = GRACE_SECONDS) -> list[str]:
    """SIGTERM every group, wait up to `grace`, SIGKILL the rest. Returns the names that needed SIGKILL."""
    pending = set(groups)
    signal_groups(pending, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pending and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        pending = live_members(pending)
    signal_groups(pending, signal.SIGKILL)
    return sorted(groups[pgid] for pgid in pending)


def say(text: str) -> None:
    try:
        print(text, flush=True)
    except (OSError, ValueError):
        pass  # the terminal went away with the runner: stopping the groups is what matters


def main(argv: list[str]) -> int:
    grace = float(argv[argv.index("--grace") + 1]) if "--grace" in argv else GRACE_SECONDS
    # A terminal's Ctrl-C is the runner's to handle; the watchdog goes on until its input ends.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    groups: dict[int, str] = {}
    for line in sys.stdin:
        command, _, rest = line.strip().partition(" ")
        if command == "exit":
            return 0
        try:
            if command.startswith("+"):
                groups[int(command[1:])] = rest or command[1:]
            elif command.startswith("-"):
                groups.pop(int(command[1:]), None)
        except ValueError:
            continue  # the runner writes only what is above; nothing else is worth dying for
    if groups:
        names = ", ".join(sorted(groups.values()))
        say(f"runchatter died; its watchdog is stopping {names}")
        killed = stop_groups(groups, grace=grace)
        if killed:
            say(f"runchatter watchdog: had to kill {', '.join(killed)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
