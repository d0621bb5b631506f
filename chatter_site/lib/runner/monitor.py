"""The runner's monitor: outages of the database and Redis as they begin and end, and a status line
a minute (messages per minute, the bots' share, Celery queue depths, errors the children logged).

It runs in its own thread so a probe that hangs on a dead network never delays supervision; it
only reads, and closes its database connection after every probe.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta

import redis
from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connections
from django.db.models import Count, Q
from django.utils import timezone
from kombu.transport.redis import PRIORITY_STEPS, Channel

from chatter_site.lib.runner.console import Console

PROBE_INTERVAL = 5.0
STATUS_INTERVAL = 60.0


@dataclass
class Outage:
    """A service's state as the monitor last saw it: when it went down, and why."""

    since: float | None = None
    reason: str = ""


@dataclass
class Snapshot:
    messages: int | None = None  # in the last minute; None when the database did not answer
    bots: int = 0
    queues: dict[str, int] | None = None  # None when Redis did not answer
    errors: dict[str, int] = field(default_factory=dict)


def describe_error(exc: BaseException) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0][:160]
    return f"{type(exc).__name__}: {first_line}" if first_line else type(exc).__name__


class Monitor:
    def __init__(
        self, *, console: Console, redis_url: str, queues: tuple[str, ...], status_interval: float = STATUS_INTERVAL
    ) -> None:
        self.console = console
        self.redis_url = redis_url
        self.queues = queues
        self.status_interval = status_interval
        self.outages = {"database": Outage(), "redis": Outage()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)
        self._redis: redis.Redis | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        next_status = time.monotonic() + self.status_interval
        while not self._stop.wait(min(PROBE_INTERVAL, self.status_interval)):
            snapshot = self.probe()
            if time.monotonic() >= next_status:
                next_status += self.status_interval
                snapshot.errors = self.console.take_error_counts()
                self.console.event("status", self.status_line(snapshot))
        connections.close_all()

    # -- probes --

    def probe(self) -> Snapshot:
        snapshot = Snapshot()
        try:
            snapshot.messages, snapshot.bots = self.messages_last_minute()
            self.service_up("database")
        except DatabaseError as exc:
            self.service_down("database", describe_error(exc))
        finally:
            connections.close_all()  # a broken connection must not be reused once the database is back
        try:
            snapshot.queues = self.queue_depths()
            self.service_up("redis")
        except Exception as exc:  # redis-py's errors, and OSError under them
            self.service_down("redis", describe_error(exc))
        return snapshot

    def messages_last_minute(self) -> tuple[int, int]:
        Message = apps.get_model("chat", "Message")
        counts = Message.objects.filter(created_at__gte=timezone.now() - timedelta(minutes=1)).aggregate(
            total=Count("pk"), bots=Count("pk", filter=Q(origin="bot"))
        )
        return counts["total"], counts["bots"]

    def queue_depths(self) -> dict[str, int]:
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.redis_url, socket_connect_timeout=2, socket_timeout=2)
        # Kombu's Redis transport keeps one list per priority step; a queue's depth is their sum.
        steps = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("priority_steps", PRIORITY_STEPS)
        pipe = self._redis.pipeline(transaction=False)
        for queue in self.queues:
            for step in steps:
                pipe.llen(f"{queue}{Channel.sep}{step}" if step else queue)
        lengths = pipe.execute()
        return {queue: sum(lengths[i * len(steps):(i + 1) * len(steps)]) for i, queue in enumerate(self.queues)}

    def service_down(self, name: str, reason: str) -> None:
        outage = self.outages[name]
        if outage.since is None:
            outage.since, outage.reason = time.monotonic(), reason
            self.console.event("outage", f"{name} unreachable ({reason}); retrying every {PROBE_INTERVAL:.0f}s", alarm=True)

    def service_up(self, name: str) -> None:
        outage = self.outages[name]
        if outage.since is not None:
            self.console.event("outage", f"{name} is back after {time.monotonic() - outage.since:.0f}s")
            outage.since = None

    # -- the status line --

    def status_line(self, snapshot: Snapshot) -> str:
        if snapshot.messages is None:
            chat = "messages: database unreachable"
        elif snapshot.messages:
            chat = f"{snapshot.messages} messages/min ({round(100 * snapshot.bots / snapshot.messages)}% from bots)"
        else:
            chat = "no messages in the last minute"
        if snapshot.queues is None:
            queues = "queues: redis unreachable"
        else:
            queues = "queued: " + ", ".join(f"{name} {depth}" for name, depth in snapshot.queues.items())
        parts = [chat, queues]
        if snapshot.errors:
            logged = ", ".join(f"{name} {count}" for name, count in sorted(snapshot.errors.items()))
            where = f" (in {self.console.logs.directory})" if self.console.logs is not None else ""
            parts.append(f"errors logged: {logged}{where}")
        return " · ".join(parts)
