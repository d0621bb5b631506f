"""The command lines of the app processes the runner starts (settings say what they serve)."""
from __future__ import annotations

import sys
from pathlib import Path

from django.conf import settings


def daphne_command(*, host: str, port: int) -> list[str]:
    return [
        sys.executable, "-m", "daphne", "-b", host, "-p", str(port),
        "--websocket-max-message-size", str(settings.CHAT_TRANSPORT_MAX_BYTES),
        # No --proxy-headers: Daphne would believe any client's X-Forwarded-For, and the
        # loopback-only /metrics check trusts the client address.
        "chatter_site.asgi:application",
    ]


def worker_command(*, concurrency: int) -> list[str]:
    """One worker consuming every queue tasks are routed to (settings.CELERY_TASK_ROUTES)."""
    return [
        sys.executable, "-m", "celery", "-A", "chatter_site", "worker", "-Q", ",".join(settings.CELERY_TASK_QUEUES_NAMES),
        "-c", str(concurrency), "-l", "INFO", "--without-mingle", "--without-gossip",
    ]


def beat_command(*, pidfile: Path) -> list[str]:
    return [
        sys.executable, "-m", "celery", "-A", "chatter_site", "beat", "-l", "INFO",
        "-s", str(settings.CELERY_BEAT_SCHEDULE_FILENAME), "--pidfile", str(pidfile),
    ]


def demo_stream_command(*, room_slug: str) -> list[str]:
    """The embedded stream default: a scripted source, through the same pipeline as audio."""
    return [
        sys.executable, "manage.py", "run_stream_context", "--room", room_slug,
        "--script", str(settings.STREAMCTX_DEMO_SCRIPT), "--loop", "--if-free",
    ]


def migrate_command() -> list[str]:
    return [sys.executable, "manage.py", "migrate", "--no-input"]


def seed_command() -> list[str]:
    return [sys.executable, "manage.py", "seed_demo"]
