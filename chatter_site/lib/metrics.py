"""Prometheus metrics shared by every process.

When `PROMETHEUS_MULTIPROC_DIR` is set (the runner sets it), every process (Daphne, Celery workers,
beat) writes its samples there and `/metrics` aggregates them; otherwise the process-local default
registry is used (tests, a single shell).
"""
from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def counter(name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> Counter:
    return Counter(name, documentation, labelnames)


def histogram(name: str, documentation: str, labelnames: tuple[str, ...] = (), buckets=LATENCY_BUCKETS) -> Histogram:
    return Histogram(name, documentation, labelnames, buckets=buckets)


def gauge(name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> Gauge:
    # livesum: the sum over live processes is what an operator means by "connected clients".
    return Gauge(name, documentation, labelnames, multiprocess_mode="livesum")


def render_latest() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest()
