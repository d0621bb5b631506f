"""Starting the embedded services (Redis, the offline LLM provider, Chroma) as supervised children.

Their addresses reach the app processes through the environment (chatter_site.lib.runner.environment)
and other commands of the checkout through the runtime directory (chatter_site.lib.runtime).
"""
from __future__ import annotations

import os
import secrets
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Protocol

from chatter_site.lib.errors import ChatterError, ErrorCode
from chatter_site.lib.runner.children import Child, signal_group
from chatter_site.lib.runner.embedded import (
    chroma_answers,
    chroma_command,
    free_port,
    health_status,
    redis_answers,
    redis_executable,
)

# Deadlines for events, not expected durations: a loaded 2-core machine took over 30 s once.
REDIS_START_TIMEOUT = 30.0
LLM_START_TIMEOUT = 30.0
CHROMA_START_TIMEOUT = 60.0
START_ATTEMPTS = 3  # a free port is picked before the service binds it; something may grab it first
REDIS_DIRNAME = "redis"  # under the runtime dir
CHROMA_DIRNAME = "chroma"  # under VAR_DIR, not the runtime dir: memories outlive a run


@dataclass
class EmbeddedAddresses:
    """What the runner started, each None when the environment named an external one instead."""

    redis_url: str | None = None
    llm_base_url: str | None = None
    llm_control_token: str | None = None  # POST /__control on the offline provider needs it
    chroma_url: str | None = None

    def record(self) -> dict[str, str]:
        """The services.json entries (chatter_site.lib.runtime) for what is known so far."""
        entries = {
            "redis_url": self.redis_url,
            "openai_base_url": self.llm_base_url,
            "llm_control_token": self.llm_control_token,
            "chroma_url": self.chroma_url,
        }
        return {key: value for key, value in entries.items() if value}


class Supervisor(Protocol):
    def spawn(self, name: str, argv: list[str]) -> Child: ...

    def drop(self, child: Child) -> None: ...

    def sleep(self, seconds: float) -> None: ...


class EmbeddedServices:
    """Starts each service, waits until it answers, and says where it is (`addresses`)."""

    def __init__(self, *, supervisor: Supervisor, runtime_dir: Path, var_dir: Path, on_change: Callable[[], None]) -> None:
        self.supervisor = supervisor
        self.runtime_dir = runtime_dir
        self.var_dir = var_dir
        self.on_change = on_change  # called whenever an address becomes known (to record it)
        self.addresses = EmbeddedAddresses()
        self.chroma_port = 0

    def redis_start(self) -> None:
        executable = redis_executable()
        data_dir = self.runtime_dir / REDIS_DIRNAME
        data_dir.mkdir(parents=True, exist_ok=True)
        # Any local process can reach 127.0.0.1: a random password (in a 0600 config file, never on
        # the command line where `ps` shows it) keeps other users off the chat's Redis.
        password = secrets.token_urlsafe(24)
        config = data_dir / "redis.conf"
        config.unlink(missing_ok=True)
        descriptor = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(f"requirepass {password}\n")
        for attempt in range(START_ATTEMPTS):
            port = free_port()
            child = self.supervisor.spawn(
                "redis",
                [
                    executable, str(config), "--bind", "127.0.0.1", "--port", str(port), "--dir", str(data_dir),
                    "--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes",
                    # Redis would otherwise overwrite its argv and environment with a short title;
                    # kept, `ps` shows which checkout's runtime dir this Redis belongs to.
                    "--set-proc-title", "no",
                ],
            )
            url = f"redis://:{password}@127.0.0.1:{port}/0"
            if self._wait(child, partial(redis_answers, url), REDIS_START_TIMEOUT, 0.05):
                break
            self.supervisor.drop(child)
            if attempt == START_ATTEMPTS - 1:
                raise ChatterError(ErrorCode.UNAVAILABLE, f"the embedded Redis did not start:\n{child.log_tail()}")
        self.addresses.redis_url = url
        self.on_change()

    def offline_llm_start(self) -> None:
        # POST /__control changes every answer: only holders of services.json (0600) may use it.
        self.addresses.llm_control_token = secrets.token_urlsafe(24)
        for attempt in range(START_ATTEMPTS):
            port = free_port()
            child = self.supervisor.spawn(
                "llm", [sys.executable, "-m", "chatter_site.lib.offline_llm", "--host", "127.0.0.1", "--port", str(port)]
            )
            url = f"http://127.0.0.1:{port}/v1"
            if self._wait(child, partial(_answers_200, f"{url}/models"), LLM_START_TIMEOUT, 0.05):
                break
            self.supervisor.drop(child)
            if attempt == START_ATTEMPTS - 1:
                raise ChatterError(ErrorCode.UNAVAILABLE, f"the offline LLM provider did not start:\n{child.log_tail()}")
        self.addresses.llm_base_url = url
        self.on_change()

    def chroma_spawn(self) -> Child:
        """Chroma starts slowest: spawned first, awaited (chroma_await) once the others are up."""
        data_dir = self.chroma_dir
        data_dir.mkdir(parents=True, exist_ok=True)
        self.chroma_port = free_port()
        return self.supervisor.spawn("chroma", chroma_command(host="127.0.0.1", port=self.chroma_port, path=data_dir))

    def chroma_await(self, child: Child) -> None:
        for attempt in range(START_ATTEMPTS):
            port = self.chroma_port
            if self._wait(child, partial(chroma_answers, "127.0.0.1", port), CHROMA_START_TIMEOUT, 0.1):
                break
            self.supervisor.drop(child)
            if attempt == START_ATTEMPTS - 1:
                raise ChatterError(ErrorCode.UNAVAILABLE, f"the Chroma server did not start:\n{child.log_tail()}")
            child = self.chroma_spawn()
        self.addresses.chroma_url = f"chroma://127.0.0.1:{self.chroma_port}"
        self.on_change()

    @property
    def chroma_dir(self) -> Path:
        return self.var_dir / CHROMA_DIRNAME

    def _wait(self, child: Child, answers: Callable[[], bool], timeout: float, interval: float) -> bool:
        """True once the service answers; False (the child killed and reaped) if it exits or never does."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if child.exited():
                return False
            if answers():
                return True
            self.supervisor.sleep(interval)
        signal_group(child, signal.SIGKILL)
        child.proc.wait()
        return False


def _answers_200(url: str) -> bool:
    return health_status(url)[0] == 200
