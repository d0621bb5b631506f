"""Prometheus metrics shared by every process.

When `PROMETHEUS_MULTIPROC_DIR` is set (the runner sets it), every process (Daphne, Celery workers,
beat) writes its samples there and `/metrics` aggregates them; otherwise the process-local default
registry is used (tests, a single shell).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import GaugeMetricFamily

logger = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


def counter(name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> Counter:
    return Counter(name, documentation, labelnames)


def histogram(name: str, documentation: str, labelnames: tuple[str, ...] = (), buckets=LATENCY_BUCKETS) -> Histogram:
    return Histogram(name, documentation, labelnames, buckets=buckets)


def gauge(name: str, documentation: str, labelnames: tuple[str, ...] = ()) -> Gauge:
    # livesum: the sum over live processes is what an operator means by "connected clients".
    return Gauge(name, documentation, labelnames, multiprocess_mode="livesum")


# Gauges read from the database or Redis when /metrics is scraped (a queue's depth is a fact of the
# system, not of one process): apps register a zero-argument function returning
# {metric name: (help, value)} in their AppConfig.ready().
_scrape_readers: list[Callable[[], dict[str, tuple[str, float]]]] = []


def scrape_gauges_register(reader: Callable[[], dict[str, tuple[str, float]]]) -> None:
    if reader not in _scrape_readers:
        _scrape_readers.append(reader)


class _ScrapeCollector:
    def collect(self):
        for reader in _scrape_readers:
            try:
                values = reader()
            except Exception:
                logger.warning("a /metrics gauge reader failed", exc_info=True)
                continue
            for name, (documentation, value) in values.items():
                yield GaugeMetricFamily(name, documentation, value=value)


def render_latest() -> bytes:
    scraped = CollectorRegistry()
    scraped.register(_ScrapeCollector())
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry) + generate_latest(scraped)
    return generate_latest() + generate_latest(scraped)
