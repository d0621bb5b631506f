"""Real processes for integration tests: Daphne and Celery workers against the test database."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def child_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "chatter_site.settings"}
    env.update(overrides)
    return env


class ManagedProcess:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=timeout)
            except ProcessLookupError:
                pass
        self._log.close()


def start_daphne(
    env: dict[str, str], log_dir: Path, *, port: int | None = None, args: tuple[str, ...] = ()
) -> tuple[ManagedProcess, str]:
    """`args` go to Daphne before the application (e.g. `--websocket-max-message-size`, as runchatter).

    A free port is only free until Daphne binds it: when another process took it meanwhile (seven
    engineers' suites share this machine), Daphne exits and a new port is tried.
    """
    for attempt in range(3):
        chosen = port or free_port()
        process = ManagedProcess(
            f"daphne-{chosen}",
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(chosen), *args, "chatter_site.asgi:application"],
            env,
            log_dir,
        )
        base = f"http://127.0.0.1:{chosen}"
        # A deadline, not a duration: Django's import alone took over 30 s at load 10 on 2 cores.
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if process.proc.poll() is not None:
                if "Address already in use" in process.log_tail() and port is None and attempt < 2:
                    break
                raise RuntimeError(f"daphne exited: {process.log_tail()}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return process, base
            except OSError:
                time.sleep(0.1)
        else:
            process.stop()
            raise RuntimeError(f"daphne did not become healthy: {process.log_tail()}")
        process.stop()
    raise AssertionError("unreachable: the last attempt returns or raises")


def start_celery_worker(env: dict[str, str], log_dir: Path, *, queues: str, name: str, concurrency: int = 2) -> ManagedProcess:
    return ManagedProcess(
        f"celery-{name}",
        [
            sys.executable, "-m", "celery", "-A", "chatter_site", "worker",
            "-Q", queues, "-c", str(concurrency), "-n", f"{name}@%h", "--without-mingle", "--without-gossip",
            "-l", "INFO",
        ],
        env,
        log_dir,
    )
