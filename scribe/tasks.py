"""Celery entry points of the scribe. Routed to the "scribe" queue (settings: "scribe.tasks.*").

acks_late with task_reject_on_worker_lost (settings): a worker killed mid-update leaves the message
to be delivered again, and the cursor with the conditional commit makes that redo fold in exactly
what the dead one did not. Retries only for ScribeTransientError (LLM, storage, a refused answer),
with exponential backoff and jitter.
"""
from __future__ import annotations

from typing import Any

from celery import shared_task
from celery.signals import worker_process_init, worker_ready
from django.conf import settings

from chatter_site.lib.correlation import bind_correlation_id, new_correlation_id
from scribe.services import ScribeTransientError, document_update_run, scribe_sweep
from scribe.storage import storage_warm_up


@shared_task(
    ignore_result=True,
    acks_late=True,
    autoretry_for=(ScribeTransientError,),
    retry_backoff=settings.SCRIBE_RETRY_BACKOFF_SECONDS,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=settings.SCRIBE_MAX_RETRIES,
)
def scribe_update_task(document_id: int, correlation_id: str | None = None, force: bool = False) -> str:
    bind_correlation_id(correlation_id or new_correlation_id())
    return document_update_run(document_id=document_id, correlation_id=correlation_id, force=force).outcome


@shared_task(ignore_result=True)
def scribe_sweep_task() -> int:
    """Beat `scribe-sweep` and each worker start: repair the trigger index, catch up lagging documents."""
    return scribe_sweep()


@worker_ready.connect(dispatch_uid="scribe-sweep-on-worker-start")
def _sweep_on_worker_start(sender: Any = None, **kwargs: Any) -> None:
    # A worker killed mid-update left its task unacknowledged until the broker's visibility timeout:
    # the next worker to start does not wait for it.
    scribe_sweep_task.apply_async(expires=60)


@worker_process_init.connect(dispatch_uid="scribe-storage-warm-up")
def _warm_up_storage(sender: Any = None, **kwargs: Any) -> None:
    storage_warm_up()
