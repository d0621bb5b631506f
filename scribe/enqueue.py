"""The scribe's update job, sent by task name: services enqueue here, scribe.tasks runs it."""
from __future__ import annotations

from typing import Any

from chatter_site.lib.enqueue import task_named


def scribe_update_enqueue(
    *, document_id: int, correlation_id: str | None = None, force: bool = False, countdown: float | None = None
) -> None:
    """An update of one document (scribe.tasks.scribe_update_task), now or after `countdown` seconds."""
    kwargs: dict[str, Any] = {"correlation_id": correlation_id, "force": True} if force else {"correlation_id": correlation_id}
    task_named("scribe.tasks.scribe_update_task").apply_async(args=[document_id], kwargs=kwargs, countdown=countdown)
