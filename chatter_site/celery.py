"""The Celery app. Queues, routes and the beat schedule live in settings (one visible place)."""
from __future__ import annotations

import gc
import os
from typing import Any

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun, worker_init

from chatter_site.lib.correlation import bind_correlation_id, current_correlation_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatter_site.settings")

app = Celery("chatter")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


# Correlation ids follow work into tasks (SPEC 9): whatever id is bound where a task is sent rides
# in its headers, and is bound while the task runs (so its logs and LLM calls carry it).
CORRELATION_HEADER = "chatter_correlation_id"  # not "correlation_id": Celery uses that for the task id


@before_task_publish.connect(dispatch_uid="chatter-correlation-publish")
def _correlation_publish(headers: dict | None = None, **kwargs) -> None:
    corr = current_correlation_id()
    if corr and headers is not None and not headers.get(CORRELATION_HEADER):
        headers[CORRELATION_HEADER] = corr


@task_prerun.connect(dispatch_uid="chatter-correlation-prerun")
def _correlation_prerun(task=None, **kwargs) -> None:
    corr = getattr(task.request, CORRELATION_HEADER, None) if task is not None else None
    bind_correlation_id(corr or None)


@task_postrun.connect(dispatch_uid="chatter-correlation-postrun")
def _correlation_postrun(**kwargs) -> None:
    bind_correlation_id(None)  # a pooled process runs other work next


# A child's full collection waits until its oldest generation grows by a quarter, and a child
# inherits the worker's whole heap: the cyclic garbage of retried tasks (exceptions, tracebacks,
# frames) would pile up for minutes. Frozen right before the fork (after the Mem0 preload), the
# inherited heap is never scanned again and the child's count starts from its own objects.
def heap_freeze() -> None:
    gc.collect()  # garbage first: what is frozen is never freed
    gc.freeze()
    gc.collect()  # the oldest generation is now empty: a child counts from its own objects


@worker_init.connect(dispatch_uid="chatter-gc-freeze-before-fork")
def _freeze_heap_before_each_fork(**_signal: Any) -> None:
    os.register_at_fork(before=heap_freeze)  # the worker's parent only: it forks nothing but its pool
