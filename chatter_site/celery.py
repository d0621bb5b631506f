"""The Celery app. Queues, routes and the beat schedule live in settings (one visible place)."""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import before_task_publish, task_postrun, task_prerun

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
