"""Sending a task by its registered name, so an app's services need not import its tasks module
(tasks import services, never the other way: docs/architecture.md)."""
from __future__ import annotations

from celery import Task, current_app


def task_named(name: str) -> Task:
    """The registered task `name`, carrying its own options (queue, expiry, retries). The first
    lookup in a process that has not imported the apps' tasks modules yet imports them."""
    if name not in current_app.tasks:
        current_app.loader.import_default_modules()
    return current_app.tasks[name]
