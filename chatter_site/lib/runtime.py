"""The runtime directory: where `runchatter` records the embedded services it started.

Any other `manage.py` command run from the same checkout reads the addresses from here when the
environment leaves them unset, so it talks to the very same Redis as the running system.
"""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent.parent
SERVICES_FILE = "services.json"
# run_stream_context's exit status when it stopped because another source has the room: runchatter
# does not restart such a demo source (a user's own stream keeps the room).
EXIT_SOURCE_YIELDED = 3
SECRET_KEY_FILE = "secret_key"  # under var/, which git ignores


def var_dir() -> Path:
    return Path(os.environ.get("CHATTER_VAR_DIR") or BASE_DIR / "var")


def runtime_dir() -> Path:
    return Path(os.environ.get("CHATTER_RUNTIME_DIR") or var_dir() / "run")


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def read_services() -> dict[str, str]:
    """Addresses of embedded services recorded by a live runner, or {} when none is running."""
    path = runtime_dir() / SERVICES_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    runner_pid = data.get("runner_pid")
    if not isinstance(runner_pid, int) or not _process_alive(runner_pid):
        return {}  # stale record from a runner that died without cleaning up
    return {key: value for key, value in data.items() if isinstance(value, str)}


def write_services(services: dict[str, str]) -> Path:
    directory = runtime_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / SERVICES_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({**services, "runner_pid": os.getpid()}, indent=2))
    tmp.replace(path)
    return path


def clear_services() -> None:
    (runtime_dir() / SERVICES_FILE).unlink(missing_ok=True)


def development_secret_key() -> str | None:
    """The development key `runchatter` generated into var/, or None before the first run."""
    try:
        return (var_dir() / SECRET_KEY_FILE).read_text().strip() or None
    except FileNotFoundError:
        return None


def development_secret_key_ensure() -> str:
    """Generate var/secret_key once (0600 from the start: no window where others can read it)."""
    key = development_secret_key()
    if key:
        return key
    directory = var_dir()
    directory.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(50)
    try:
        descriptor = os.open(directory / SECRET_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process of this checkout made it meanwhile
        return (directory / SECRET_KEY_FILE).read_text().strip()
    with os.fdopen(descriptor, "w") as handle:
        handle.write(key)
    return key
