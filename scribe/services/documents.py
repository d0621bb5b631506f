"""A moderator's writes to scribe documents: start, stop/restart, manual edits, restores, redactions."""
from __future__ import annotations

import logging
import re
import secrets
import unicodedata
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from chat.models import Conversation, Room
from chatter_site.lib.correlation import current_correlation_id, new_correlation_id
from chatter_site.lib.errors import ChatterError, ErrorCode
from scribe import coordination, metrics
from scribe.events import document_publish
from scribe.models import ScribeDocument, ScribeRevision
from scribe.prompts import initial_content, normalise
from scribe.selectors import document_payload, revision_content, revision_get
from scribe.services.triggers import document_push, document_trigger
from scribe.storage import StorageUnavailable, version_delete, version_write

logger = logging.getLogger("chatter.scribe")

TITLE_MAX = 120
RESERVED_SLUGS = frozenset({"start"})


# --- start, stop, restart ---------------------------------------------------------------------------
def _clean_title(title: str) -> str:
    # One line, no control characters, no leading "#": it becomes the document's header line.
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in str(title or ""))
    text = re.sub(r"\s+", " ", text).strip().lstrip("#").strip()
    if not text:
        raise ChatterError(ErrorCode.INVALID, "title: give the document a title")
    if len(text) > TITLE_MAX:
        raise ChatterError(ErrorCode.INVALID, f"title: at most {TITLE_MAX} characters")
    return text


def _new_slug(title: str) -> str:
    base = slugify(title)[:60].strip("-") or "scribe"
    if base.isdigit() or base in RESERVED_SLUGS:
        base = f"scribe-{base}"
    if not ScribeDocument.objects.filter(slug=base).exists():
        return base
    return f"{base}-{secrets.token_hex(3)}"


def document_start(*, room_slug: str, title: str, style: str, user=None) -> ScribeDocument:
    """Start a scribe on a room: version 1 (header + placeholder) is stored, and it follows from now."""
    room = Room.objects.filter(slug=room_slug).first()
    if room is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"unknown room {room_slug!r}")
    title = _clean_title(title)
    if style not in ScribeDocument.Style.values:
        raise ChatterError(ErrorCode.INVALID, f"style: one of {', '.join(ScribeDocument.Style.values)}")
    content = initial_content(title=title)
    correlation_id = current_correlation_id() or new_correlation_id()
    for _attempt in range(3):
        slug = _new_slug(title)
        key, sha256 = version_write(slug=slug, version=1, content=content)
        try:
            with transaction.atomic():
                last_seq = Room.objects.filter(pk=room.pk).values_list("last_seq", flat=True).get()
                conversation_id = (
                    Conversation.objects.filter(room=room, ended_at__isnull=True).values_list("pk", flat=True).first()
                )
                document = ScribeDocument.objects.create(
                    title=title,
                    slug=slug,
                    room=room,
                    conversation_id=conversation_id,
                    style=style,
                    enabled=True,
                    cursor_seq=last_seq,
                    version=1,
                    content=content,
                    created_by=user if getattr(user, "pk", None) else None,
                )
                ScribeRevision.objects.create(
                    document=document,
                    version=1,
                    kind=ScribeRevision.Kind.START,
                    storage_key=key,
                    sha256=sha256,
                    size=len(content.encode()),
                    correlation_id=correlation_id,
                    created_by=document.created_by,
                )
                transaction.on_commit(partial(_after_change, document.pk, enqueue=True))
        except IntegrityError:
            continue  # another start took the slug between the check and the insert
        logger.info("scribe started document=%s room=%s style=%s cursor=%s", document.pk, room.slug, style, last_seq)
        return document
    raise ChatterError(ErrorCode.UNAVAILABLE, "could not pick a unique slug; try another title")


def document_toggle(*, document_id: int, enabled: bool, catch_up: bool = True, user=None) -> ScribeDocument:
    """Stop or restart. A restart with catch_up folds in every turn it missed; without, it starts from now."""
    with transaction.atomic():
        document = ScribeDocument.objects.select_for_update().select_related("room").filter(pk=document_id).first()
        if document is None:
            raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {document_id}")
        if document.enabled == enabled:
            return document
        fields = ["enabled"]
        document.enabled = enabled
        if enabled and not catch_up:
            last_seq = Room.objects.filter(pk=document.room_id).values_list("last_seq", flat=True).get()
            if last_seq > document.cursor_seq:
                logger.info("scribe restart skips turns document=%s seq=%s..%s", document.pk, document.cursor_seq + 1, last_seq)
                document.cursor_seq = last_seq
                fields.append("cursor_seq")
        if not enabled and document.status == ScribeDocument.Status.UPDATING:
            document.status = ScribeDocument.Status.IDLE
            fields.append("status")
        document.save(update_fields=fields)
        transaction.on_commit(partial(_after_change, document.pk, enqueue=enabled))
    logger.info("scribe %s document=%s by=%s", "started" if enabled else "stopped", document.pk, getattr(user, "pk", None))
    return document


def _after_change(document_id: int, *, enqueue: bool) -> None:
    """On commit of a start/stop: the trigger index, the viewers, and a catch-up update."""
    document = ScribeDocument.objects.select_related("room").filter(pk=document_id).first()
    if document is None:
        return
    try:
        coordination.enabled_index_set(room_slug=document.room.slug, document_id=document.pk, enabled=document.enabled)
    except Exception:
        logger.exception("scribe index update failed document=%s (the sweep repairs it)", document_id)
    document_publish(document=document_payload(document))
    if enqueue and document.enabled:
        document_trigger(document_ids=[document.pk], force=True)


# --- manual edits and restores ------------------------------------------------------------------------
def _stale(*, base_version: int, current: int) -> ChatterError:
    return ChatterError(
        ErrorCode.STALE,
        f"The document changed since you opened it: you edited version {base_version}, it is now version {current}. "
        "Your change was not saved. Reload the latest version, apply your change again and save.",
    )


def _new_version_commit(
    *, document: ScribeDocument, base_version: int, content: str, kind: str, user, restored_from: int | None = None
) -> ScribeDocument:
    """A version written by a person: stored first, then committed only if nobody wrote since base_version."""
    if document.version != base_version:
        raise _stale(base_version=base_version, current=document.version)
    new_version = base_version + 1
    key, sha256 = version_write(slug=document.slug, version=new_version, content=content)
    with transaction.atomic():
        applied = ScribeDocument.objects.filter(pk=document.pk, version=base_version).update(
            version=new_version, content=content, updated_at=timezone.now()
        )
        if not applied:
            current = ScribeDocument.objects.filter(pk=document.pk).values_list("version", flat=True).first() or 0
            raise _stale(base_version=base_version, current=current)
        ScribeRevision.objects.create(
            document_id=document.pk,
            version=new_version,
            kind=kind,
            storage_key=key,
            sha256=sha256,
            size=len(content.encode()),
            restored_from=restored_from,
            correlation_id=current_correlation_id() or new_correlation_id(),
            created_by=user if getattr(user, "pk", None) else None,
        )
        transaction.on_commit(partial(document_push, document.pk))
    document.refresh_from_db()
    logger.info("scribe %s document=%s version=%s by=%s", kind, document.pk, new_version, getattr(user, "pk", None))
    return document


def document_edit(*, document_id: int, content: str, base_version: int, user=None) -> ScribeDocument:
    """A moderator's edit, refused (code "stale") when the document moved past base_version."""
    document = ScribeDocument.objects.filter(pk=document_id).first()
    if document is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {document_id}")
    text = normalise(content or "")
    if not text.strip():
        raise ChatterError(ErrorCode.INVALID, "content: the document cannot be empty")
    if len(text) > settings.SCRIBE_MAX_DOCUMENT_CHARS:
        raise ChatterError(ErrorCode.TOO_LARGE, f"content: at most {settings.SCRIBE_MAX_DOCUMENT_CHARS} characters")
    return _new_version_commit(
        document=document, base_version=base_version, content=text, kind=ScribeRevision.Kind.EDIT, user=user  # type: ignore[arg-type]  # a Django choice: typed as its (value, label) tuple without django-stubs
    )


def document_restore(*, document_id: int, version: int, base_version: int | None = None, user=None) -> ScribeDocument:
    """A new version whose text is an old one's. base_version (what the moderator saw) guards against staleness."""
    document = ScribeDocument.objects.filter(pk=document_id).first()
    if document is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {document_id}")
    revision = revision_get(document=document, version=version)
    content = revision_content(revision=revision)
    return _new_version_commit(
        document=document,
        base_version=document.version if base_version is None else base_version,
        content=content,
        kind=ScribeRevision.Kind.RESTORE,  # type: ignore[arg-type]  # a Django choice: typed as its (value, label) tuple without django-stubs
        user=user,
        restored_from=version,
    )


def revision_redact(*, document_id: int, version: int, user, reason: str = "") -> ScribeRevision:
    """Remove a published version: its stored object is deleted and the revision marked redacted,
    so neither the page, the API nor a restore can show it again. The current version cannot be
    redacted (the live document is it): edit the document first, then redact the old version."""
    document = ScribeDocument.objects.filter(pk=document_id).first()
    if document is None:
        raise ChatterError(ErrorCode.NOT_FOUND, f"no scribe document {document_id}")
    revision = revision_get(document=document, version=version)
    if version == document.version:
        raise ChatterError(ErrorCode.INVALID, f"version {version} is the current document: edit it first, then redact this version")
    if revision.redacted_at is None:
        try:
            version_delete(key=revision.storage_key)
        except StorageUnavailable as error:
            raise ChatterError(ErrorCode.UNAVAILABLE, f"could not remove the stored version: {error.message}") from error
        ScribeRevision.objects.filter(pk=revision.pk).update(
            redacted_at=timezone.now(), redacted_by=user if getattr(user, "pk", None) else None, redaction_reason=reason[:200]
        )
        metrics.REDACTIONS.inc()
        logger.info("scribe version redacted document=%s version=%s by=%s", document.pk, version, getattr(user, "pk", None))
        transaction.on_commit(partial(document_push, document.pk))
    revision.refresh_from_db()
    return revision
