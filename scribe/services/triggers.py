"""What follows a change of a scribe document: updates triggered (coalesced per document), the
trigger index kept, the page's viewers pushed the new payload."""
from __future__ import annotations

from chatter_site.lib.correlation import current_correlation_id
from scribe import coordination, metrics
from scribe.enqueue import scribe_update_enqueue
from scribe.events import document_publish
from scribe.models import ScribeDocument
from scribe.selectors import document_payload, documents_behind, enabled_documents_by_room


def document_trigger(*, document_ids: list[int], correlation_id: str | None = None, force: bool = False) -> int:
    """Enqueue an update for each document that has none waiting; returns how many were enqueued.

    `force` enqueues even where a waiting update is recorded: that record may belong to a task a dead
    worker had reserved (it comes back only after the broker's visibility timeout)."""
    claimed = coordination.queued_claim(document_ids=document_ids)
    enqueued = 0
    for document_id in document_ids if force else claimed:
        try:
            scribe_update_enqueue(document_id=document_id, correlation_id=correlation_id, force=force)
            enqueued += 1
        except Exception:
            coordination.queued_clear(document_id=document_id)  # let the next message try again
            raise
    metrics.TRIGGERS.labels(outcome="enqueued").inc(enqueued)
    metrics.TRIGGERS.labels(outcome="coalesced").inc(len(document_ids) - enqueued)
    return enqueued


def room_messages_trigger(*, room_slug: str) -> int:
    """chat's message_persisted, for one room: no SQL unless the trigger index is missing."""
    document_ids = coordination.enabled_index_read(room_slug=room_slug)
    if document_ids is None:
        document_ids = scribe_index_rebuild().get(room_slug, [])
    if not document_ids:
        return 0
    return document_trigger(document_ids=document_ids, correlation_id=current_correlation_id())


def scribe_index_rebuild() -> dict[str, list[int]]:
    coordination.enabled_index_replace(by_room=enabled_documents_by_room())
    # A document started between that read and the replace added itself before the replace wiped
    # it: read again and add (idempotent). One started after this read adds itself after the replace.
    by_room = enabled_documents_by_room()
    coordination.enabled_index_add(by_room=by_room)
    return by_room


def scribe_sweep() -> int:
    """Safety net (beat, and each worker start): repair the index, update every document left behind
    (a trigger lost with Redis, a worker killed mid-update whose task waits for the visibility timeout)."""
    scribe_index_rebuild()
    return document_trigger(document_ids=documents_behind(), force=True)


def document_forget(*, document_id: int, room_slug: str) -> None:
    """After a delete (admin): the trigger index must not keep the id."""
    coordination.enabled_index_set(room_slug=room_slug, document_id=document_id, enabled=False)


def document_push(document_id: int) -> None:
    """The document's current payload to the page's viewers (called on commit)."""
    document = ScribeDocument.objects.select_related("room").filter(pk=document_id).first()
    if document is not None:
        document_publish(document=document_payload(document))
